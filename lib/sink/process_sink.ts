/**
 * Sinks that feed a child process: `tar -x`, `dd`, a shell command.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import { ChildProcess, type ChildSpec } from "../process/child_process.ts";
import type { Sink } from "./sink.ts";

/** The `tar -x` invocation: numeric owners, permissions, xattrs and ACLs preserved. GNU tar keeps
 * refusing absolute and `..` member names (it strips leading `/` and skips `..`). */
export function tarExtractSpec(directory: string): ChildSpec {
  return {
    program: "tar",
    args: [
      "-x",
      "-f",
      "-",
      "-C",
      directory,
      "--numeric-owner",
      "--same-owner",
      "--preserve-permissions",
      "--xattrs",
      "--xattrs-include=*",
      "--acls",
    ],
    label: "tar -x",
    failureCode: "LWF",
    stdin: "piped",
    stdout: "null",
  };
}

/** The `dd` invocation: large blocks, full reads from the pipe, fsync before exit. */
export function ddSpec(path: string): ChildSpec {
  return {
    program: "dd",
    args: [`of=${path}`, "bs=4M", "iflag=fullblock", "conv=fsync", "status=none"],
    label: "dd",
    failureCode: "LWF",
    stdin: "piped",
    stdout: "null",
  };
}

/** A shell command given by the node's operator. */
export function shellSpec(command: string): ChildSpec {
  return {
    program: "sh",
    args: ["-c", command],
    label: `command "${command}"`,
    failureCode: "LWF",
    stdin: "piped",
    stdout: "inherit",
  };
}

/** A sink writing into a child process's standard input. */
export class ProcessSink implements Sink {
  /** Describes the sink. */
  readonly description: string;
  readonly #child: ChildProcess;

  /** Starts the child. */
  constructor(spec: ChildSpec, description: string) {
    this.description = description;
    this.#child = ChildProcess.spawn(spec);
  }

  /** Writes to the child's input; a broken pipe reports the child's own reason when it has exited. */
  async write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#child.write(bytes);
    } catch (error) {
      await this.#child.wait();
      throw new KadError("LWF", `Writing to ${this.#child.spec.label} failed: ${error}`, { cause: error });
    }
  }

  /** Closes the input and waits for a clean exit. */
  async finish(): Promise<void> {
    await this.#child.closeInput();
    await this.#child.wait();
  }

  /** Nothing to do: the child wrote in place. */
  async commit(): Promise<void> {}

  /** Kills the child's process group. */
  async abort(): Promise<void> {
    await this.#child.stop();
  }
}
