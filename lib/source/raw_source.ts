/**
 * Raw sources: an image file, a block device, a FIFO, a character device (with a size), or
 * standard input, read straight into the ring.
 *
 * A file's size is taken when it is opened, and exactly that many bytes are streamed: a file that
 * shrinks or grows while it is read fails the deployment (LRF) with the reason, never a silent
 * short or long copy. Sources with no end of their own (`/dev/zero`) need a size.
 *
 * @module
 */

import { ConfigError, KadError } from "../errors.ts";
import type { ByteHistory } from "../relay/fan_out.ts";
import type { Source } from "./source.ts";

/** What kind of file an `--image` path is, as far as streaming it goes. */
export type RawFileKind = "file" | "block" | "fifo" | "char";

/** A raw file source as checked before listening: its kind and the bytes it will stream. */
export interface RawFileInfo {
  /** The kind of file. */
  kind: RawFileKind;
  /** Bytes that will be streamed; null for a FIFO without a size (until its writer closes it). */
  size: number | null;
}

/**
 * Checks an `--image` path before listening: it must exist and be readable, be a file, a block
 * device or a FIFO — or a character device when `size` says how much of it to stream.
 * @throws {ConfigError} with one line saying what is wrong and what to give instead.
 */
export async function checkRawFile(path: string, size: number | undefined): Promise<RawFileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new ConfigError(`Cannot serve image "${path}": ${fileProblem(error)}`);
  }
  if (info.isDirectory) throw new ConfigError(`Image "${path}" is a directory: serve it without --image`);
  if (info.isSocket) {
    throw new ConfigError(`Image "${path}" is a socket: kad serves files, devices and FIFOs`);
  }
  if (info.isFifo) return { kind: "fifo", size: size ?? null }; // opened when the stream starts: a writer may come later
  if (info.isCharDevice) {
    if (size === undefined) {
      throw new ConfigError(
        `Image "${path}" is a character device with no end of its own (like /dev/zero): ` +
          `give --size BYTES to serve that many bytes`,
      );
    }
    await probeReadable(path);
    return { kind: "char", size };
  }
  const file = await openReadable(path);
  try {
    const length = info.isBlockDevice ? await file.seek(0, Deno.SeekMode.End) : info.size;
    if (size !== undefined && size > length) {
      throw new ConfigError(`--size ${size} is more than the ${length} bytes of "${path}"`);
    }
    return { kind: info.isBlockDevice ? "block" : "file", size: size ?? length };
  } finally {
    file.close();
  }
}

/** An image file, block device, FIFO or character device, streamed raw. */
export class RawFileSource implements Source {
  /** Describes the source. */
  readonly description: string;
  /** Bytes it streams; null for a FIFO read to its end. */
  readonly size: number | null;
  readonly #path: string;
  readonly #kind: RawFileKind;
  readonly #file: Deno.FsFile;
  #read = 0;

  private constructor(path: string, file: Deno.FsFile, info: RawFileInfo) {
    this.#path = path;
    this.#file = file;
    this.#kind = info.kind;
    this.size = info.size;
    this.description = info.kind === "fifo" ? `FIFO ${path}` : `image ${path}`;
  }

  /** Checks and opens `path` (a FIFO's open waits for its writer). */
  static async open(path: string, size: number | undefined): Promise<RawFileSource> {
    const info = await checkRawFile(path, size);
    return new RawFileSource(path, await openReadable(path), info);
  }

  /** Files and block devices only: a second reader for bytes a repair needs after the ring let them go. */
  get openHistory(): (() => Promise<ByteHistory>) | undefined {
    if (this.#kind !== "file" && this.#kind !== "block") return undefined;
    return async () => {
      const file = await Deno.open(this.#path, { read: true });
      const description = this.description;
      return {
        async readAt(offset: number, into: Uint8Array): Promise<number | null> {
          try {
            await file.seek(offset, Deno.SeekMode.Start);
            return await file.read(into);
          } catch (error) {
            throw new KadError("LRF", `Re-reading ${description} failed: ${error}`, { cause: error });
          }
        },
        close: () => file.close(),
      };
    };
  }

  /** Reads the next bytes, never past the size; an end before it is a failure (LRF). */
  async read(p: Uint8Array): Promise<number | null> {
    const left = this.size === null ? p.length : this.size - this.#read;
    if (left === 0) return null;
    let n: number | null;
    try {
      n = await this.#file.read(left < p.length ? p.subarray(0, left) : p);
    } catch (error) {
      throw new KadError("LRF", `Reading ${this.description} failed: ${error}`, { cause: error });
    }
    if (n === null && this.size !== null) {
      throw new KadError(
        "LRF",
        this.#kind === "file"
          ? `${this.description} shrank while it was read: it ended at ${this.#read} bytes of ${this.size}`
          : `${this.description} ended at ${this.#read} bytes, before the ${this.size} expected`,
      );
    }
    if (n !== null) this.#read += n;
    return n;
  }

  /** Checks that a file did not grow while it was read, and closes it. */
  async finish(): Promise<void> {
    try {
      if (this.#kind === "file") {
        const now = (await this.#file.stat()).size;
        if (now > this.#read) {
          throw new KadError(
            "LRF",
            `${this.description} grew while it was read: ${now} bytes now, ${this.#read} streamed`,
          );
        }
      }
    } finally {
      this.#close();
    }
  }

  /** Closes the file. */
  abort(): Promise<void> {
    this.#close();
    return Promise.resolve();
  }

  #close(): void {
    try {
      this.#file.close();
    } catch {
      // already closed
    }
  }
}

/** Reads the server's standard input, to its end or exactly `size` bytes. */
export class StdinSource implements Source {
  /** Describes the source. */
  readonly description = "standard input";
  /** Bytes expected (`--size`), or null. */
  readonly size: number | null;
  #read = 0;

  /** Creates the source. */
  constructor(size: number | null = null) {
    this.size = size;
  }

  /** Reads from stdin. */
  async read(p: Uint8Array): Promise<number | null> {
    const left = this.size === null ? p.length : this.size - this.#read;
    if (left === 0) return null;
    let n: number | null;
    try {
      n = await Deno.stdin.read(left < p.length ? p.subarray(0, left) : p);
    } catch (error) {
      throw new KadError("LRF", `Reading standard input failed: ${error}`, { cause: error });
    }
    if (n === null && this.size !== null) {
      throw new KadError(
        "LRF",
        `Standard input ended at ${this.#read} bytes, before the ${this.size} of --size`,
      );
    }
    if (n !== null) this.#read += n;
    return n;
  }

  /** Nothing to wait for. */
  finish(): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing to stop. */
  abort(): Promise<void> {
    return Promise.resolve();
  }
}

/** Opens `path` for reading; a missing or unreadable one is a {@link ConfigError}. */
async function openReadable(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (error) {
    throw new ConfigError(`Cannot read image "${path}": ${fileProblem(error)}`);
  }
}

async function probeReadable(path: string): Promise<void> {
  (await openReadable(path)).close();
}

/** Why a path cannot be used, in a few words. */
export function fileProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file or directory";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  return error instanceof Error ? error.message : String(error);
}
