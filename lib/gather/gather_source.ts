/**
 * What a node gives to a gather: a file as it is, a directory as a tar archive (`tar -c`), or a
 * command's standard output (`sh -c`), each read as a stream; its end says whether it is whole.
 *
 * @module
 */

import { ConfigError, describeError } from "../errors.ts";
import { ChildProcess } from "../process/child_process.ts";
import type { GatherSource } from "../protocol/agent_messages.ts";

/** A node's own stream for a gather. */
export interface OwnStream {
  /** "tar" for a directory's archive. */
  kind: "tar" | "raw";
  /** The bytes. */
  stream: ReadableStream<Uint8Array>;
  /** Resolves once the source is done: rejects when it was not whole (a command's failure…). */
  done: Promise<void>;
  /** Stops it early. */
  stop(): Promise<void>;
}

/**
 * Opens `source` on this node.
 * @throws {ConfigError} when the path does not exist or is neither a file nor a directory.
 */
export async function openOwnStream(source: GatherSource): Promise<OwnStream> {
  if (source.type === "cmd") {
    return fromChild(
      ChildProcess.spawn({
        program: "sh",
        args: ["-c", source.value],
        label: `the command "${source.value}"`,
        failureCode: "LRF",
        stdin: "null",
        stdout: "piped",
      }),
      "raw",
    );
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(source.value);
  } catch (error) {
    throw new ConfigError(`Cannot gather ${source.value}: ${describeError(error)}`);
  }
  if (info.isDirectory) {
    return fromChild(
      ChildProcess.spawn({
        program: "tar",
        args: ["-c", "-C", source.value, "."],
        label: `tar -c ${source.value}`,
        failureCode: "LRF",
        stdin: "null",
        stdout: "piped",
      }),
      "tar",
    );
  }
  if (!info.isFile) throw new ConfigError(`Cannot gather ${source.value}: neither a file nor a directory`);
  const file = await Deno.open(source.value, { read: true });
  let stopped = false;
  return {
    kind: "raw",
    stream: file.readable,
    done: Promise.resolve(),
    stop: () => {
      if (!stopped) {
        stopped = true;
        try {
          file.close();
        } catch {
          // closed by its stream's end
        }
      }
      return Promise.resolve();
    },
  };
}

function fromChild(child: ChildProcess, kind: "tar" | "raw"): OwnStream {
  const done = child.wait();
  done.catch(() => {}); // read once the stream is sent
  return { kind, stream: child.stdout!, done, stop: () => child.stop() };
}
