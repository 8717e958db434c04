/**
 * A directory source: `tar -c` of one file system, read from its standard output.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { fileProblem } from "./raw_source.ts";
import { ChildProcess, type ChildSpec } from "../process/child_process.ts";
import { ChildOutput } from "../process/child_output.ts";
import { DEFAULT_EXCLUDES, type Source } from "./source.ts";

/** Every exclude pattern `tar -c` gets: the defaults (unless turned off) and the operator's. */
export function tarExcludes(excludes: readonly string[], defaultExcludes: boolean): string[] {
  return [...(defaultExcludes ? DEFAULT_EXCLUDES : []), ...excludes];
}

/** The `tar -c` invocation for a directory. */
export function tarCreateSpec(
  directory: string,
  excludes: readonly string[],
  defaultExcludes: boolean,
): ChildSpec {
  const all = tarExcludes(excludes, defaultExcludes);
  return {
    program: "tar",
    args: [
      "-c",
      "-f",
      "-",
      "-C",
      directory,
      "--one-file-system",
      "--sparse",
      "--xattrs",
      "--xattrs-include=*",
      "--acls",
      "--numeric-owner",
      "--warning=no-file-ignored",
      ...all.map((e) => `--exclude=${e}`),
      ".",
    ],
    label: "tar -c",
    failureCode: "LRF",
    stdin: "null",
    stdout: "piped",
    // GNU tar exits 1 when a file changed while it was read: the archive is still whole.
    okExitCodes: [0, 1],
  };
}

/** Streams `tar -c` of a directory. */
export class TarSource implements Source {
  /** Describes the source. */
  readonly description: string;
  /** Unknown in advance. */
  readonly size = null;
  readonly #child: ChildProcess;
  readonly #output: ChildOutput;

  private constructor(directory: string, child: ChildProcess) {
    this.description = `tar of ${directory}`;
    this.#child = child;
    this.#output = new ChildOutput(child.stdout!);
  }

  /** Checks the directory and starts tar. */
  static async open(
    directory: string,
    excludes: readonly string[],
    defaultExcludes: boolean,
  ): Promise<TarSource> {
    await TarSource.check(directory);
    return new TarSource(directory, ChildProcess.spawn(tarCreateSpec(directory, excludes, defaultExcludes)));
  }

  /** Throws a ConfigError unless `directory` is a directory this process can list. */
  static async check(directory: string): Promise<void> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(directory);
    } catch (error) {
      throw new ConfigError(`Cannot serve "${directory}": ${fileProblem(error)}`);
    }
    if (!info.isDirectory) {
      const what = info.isFile
        ? "a file"
        : info.isFifo
        ? "a FIFO"
        : info.isBlockDevice
        ? "a block device"
        : info.isCharDevice
        ? "a character device"
        : "not a directory";
      throw new ConfigError(`Source "${directory}" is ${what}: serve it with --image ${directory}`);
    }
    try {
      for await (const _ of Deno.readDir(directory)) break;
    } catch (error) {
      throw new ConfigError(`Cannot read source directory "${directory}": ${fileProblem(error)}`);
    }
  }

  /** Copies the next bytes tar produced into `p`. */
  read(p: Uint8Array): Promise<number | null> {
    return this.#output.read(p);
  }

  /** Waits for tar's exit status. */
  async finish(): Promise<void> {
    await this.#child.wait();
  }

  /** Kills tar. */
  async abort(): Promise<void> {
    await this.#output.cancel();
    await this.#child.stop();
  }
}
