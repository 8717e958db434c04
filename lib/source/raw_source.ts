/**
 * Raw sources: an image file, a block device, or standard input, read straight into the ring.
 *
 * @module
 */

import { ConfigError, KadError } from "../errors.ts";
import type { ByteHistory } from "../relay/fan_out.ts";
import type { Source } from "./source.ts";

/** Reads an image file or a block device. */
export class ImageSource implements Source {
  /** Describes the source. */
  readonly description: string;
  /** Size in bytes. */
  readonly size: number;
  readonly #file: Deno.FsFile;
  readonly #path: string;

  private constructor(path: string, file: Deno.FsFile, size: number) {
    this.description = `image ${path}`;
    this.#path = path;
    this.#file = file;
    this.size = size;
  }

  /** Opens the image and measures its size (seeking to the end works for devices too). */
  static async open(path: string): Promise<ImageSource> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
      throw new ConfigError(`Cannot open image "${path}": ${reason}`);
    }
    const info = await file.stat();
    if (info.isDirectory) {
      file.close();
      throw new ConfigError(`Image "${path}" is a directory: serve it without --image`);
    }
    const size = await file.seek(0, Deno.SeekMode.End);
    await file.seek(0, Deno.SeekMode.Start);
    return new ImageSource(path, file, size);
  }

  /** Opens the image again to read any range a repair needs. */
  async openHistory(): Promise<ByteHistory> {
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
  }

  /** Reads from the file. */
  async read(p: Uint8Array): Promise<number | null> {
    try {
      return await this.#file.read(p);
    } catch (error) {
      throw new KadError("LRF", `Reading ${this.description} failed: ${error}`, { cause: error });
    }
  }

  /** Closes the file. */
  finish(): Promise<void> {
    this.#close();
    return Promise.resolve();
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

/** Reads the server's standard input. */
export class StdinSource implements Source {
  /** Describes the source. */
  readonly description = "standard input";
  /** Unknown. */
  readonly size = null;

  /** Reads from stdin. */
  async read(p: Uint8Array): Promise<number | null> {
    try {
      return await Deno.stdin.read(p);
    } catch (error) {
      throw new KadError("LRF", `Reading standard input failed: ${error}`, { cause: error });
    }
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
