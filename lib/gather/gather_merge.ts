/**
 * `--merge CMD` on a node of a gather tree: CMD runs with one named pipe per input stream (the
 * node's own, then each child's) appended as file arguments, the way `sort -m` takes files, and
 * its standard output is what the node sends on. Each input is fed as it arrives, so the merge
 * streams with backpressure end to end: nothing is buffered beyond the pipes.
 *
 * @module
 */

import { join } from "node:path";
import { writeAll } from "../net/frame_conn.ts";
import { describeError, KadError } from "../errors.ts";
import { ChildProcess } from "../process/child_process.ts";
import type { GatherVerdict } from "../protocol/agent_messages.ts";
import { type IncomingLink, receiveGatherStream } from "./gather_link.ts";
import type { OwnStream } from "./gather_source.ts";

/** A merge command running on named pipes. */
export class MergeProcess {
  readonly #dir: string;
  readonly #child: ChildProcess;
  readonly #fifos: string[];
  /** A writer is waiting in open() for the merge to open that pipe. */
  readonly #opening: boolean[];
  #ended = false;

  private constructor(dir: string, child: ChildProcess, fifos: string[]) {
    this.#dir = dir;
    this.#child = child;
    this.#fifos = fifos;
    this.#opening = fifos.map(() => false);
  }

  /**
   * Makes `inputs` named pipes and starts `sh -c 'COMMAND "$@"'` on them.
   * @throws {KadError} when the pipes cannot be made or the shell cannot start.
   */
  static async start(command: string, inputs: number): Promise<MergeProcess> {
    const dir = await Deno.makeTempDir({ prefix: "kad-merge-" });
    const fifos = Array.from({ length: inputs }, (_, i) => join(dir, `in-${i}`));
    const made = await new Deno.Command("mkfifo", { args: ["-m", "600", ...fifos], stderr: "piped" })
      .output()
      .catch((error) => ({ success: false, stderr: new TextEncoder().encode(String(error)) }));
    if (!made.success) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw new KadError(
        "LWF",
        `Cannot make the merge's pipes: ${new TextDecoder().decode(made.stderr).trim()}`,
      );
    }
    const child = ChildProcess.spawn({
      program: "sh",
      args: ["-c", `${command} "$@"`, "kad-merge", ...fifos],
      label: `the merge "${command}"`,
      failureCode: "LWF",
      stdin: "null",
      stdout: "piped",
    });
    return new MergeProcess(dir, child, fifos);
  }

  /** The merged stream. */
  get output(): ReadableStream<Uint8Array> {
    return this.#child.stdout!;
  }

  /**
   * Feeds input `index` from `fill`, which writes its stream through the given function; the
   * pipe's end is the input's end. A merge that stopped reading fails the write.
   */
  async feed<T>(
    index: number,
    fill: (write: (bytes: Uint8Array) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    if (this.#ended) throw new KadError("LWF", "The merge ended before reading this input");
    this.#opening[index] = true;
    const pipe = await Deno.open(this.#fifos[index], { write: true }).finally(() =>
      this.#opening[index] = false
    );
    try {
      return await fill((bytes) => writeAll(pipe, bytes));
    } finally {
      pipe.close();
    }
  }

  /**
   * Waits for the merge to end; a writer still waiting for it to open its pipe is let go (its
   * writes then fail).
   * @throws {SubprocessError} when the merge failed.
   */
  async wait(): Promise<void> {
    try {
      await this.#child.wait();
    } finally {
      await this.#unblock();
    }
  }

  /** Stops the merge and removes its pipes. */
  async dispose(): Promise<void> {
    await this.#child.stop();
    await this.#unblock();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  /** Opens for reading each pipe whose writer waits in open() for a reader, and closes it at once. */
  async #unblock(): Promise<void> {
    this.#ended = true;
    await Promise.all(this.#fifos.map(async (fifo, i) => {
      if (!this.#opening[i]) return;
      const reader = await Deno.open(fifo, { read: true }).catch(() => null);
      reader?.close();
    }));
  }
}

/** A node's own stream as it enters a gather: opened, or why it could not be. */
export interface OwnInput {
  /** The node. */
  node: string;
  /** The stream; null when it could not be opened. */
  own: OwnStream | null;
  /** Why it could not be opened ("" when it was). */
  error: string;
}

/** A merge of a node's own stream (none at the head) with its children's. */
export interface MergeRun {
  /** The merged stream. */
  output: ReadableStream<Uint8Array>;
  /** Resolves, once every input ended and the merge exited, with the verdicts of the whole subtree. */
  verdicts: Promise<GatherVerdict[]>;
}

/** Starts `command` on `own` (null at the head) and the children's links, each fed as it arrives. */
export async function mergeInputs(
  command: string,
  own: OwnInput | null,
  children: Map<string, Promise<IncomingLink>>,
): Promise<MergeRun> {
  const merge = await MergeProcess.start(command, (own ? 1 : 0) + children.size);
  const feeds: Promise<GatherVerdict[]>[] = [];
  if (own) feeds.push(merge.feed(0, (write) => readOwn(own, write)).catch((e) => [failed(own.node, e)]));
  let index = own ? 1 : 0;
  for (const [child, link] of children) {
    feeds.push(
      merge.feed(index++, async (write) => (await receiveGatherStream(await link, write)).verdicts)
        .catch((error) => [failed(child, error)]),
    );
  }
  const verdicts = (async () => {
    const all = (await Promise.all(feeds)).flat();
    try {
      await merge.wait();
      return all;
    } catch (error) {
      const why = `the merge on ${own?.node ?? "the head"} failed: ${describeError(error)}`;
      return all.map((v) => ({ ...v, status: "failed" as const, error: v.error || why }));
    } finally {
      await merge.dispose();
    }
  })();
  return { output: merge.output, verdicts };
}

/**
 * Writes a node's own stream through `write` and returns its verdict: ok when the source ended
 * whole (a command exited 0).
 */
export async function readOwn(
  input: OwnInput,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<GatherVerdict[]> {
  if (input.own === null) return [{ node: input.node, status: "failed", bytes: 0, error: input.error }];
  let bytes = 0;
  try {
    for await (const chunk of input.own.stream) {
      bytes += chunk.length;
      await write(chunk);
    }
    await input.own.done;
    return [{ node: input.node, status: "ok", bytes, error: "" }];
  } catch (error) {
    await input.own.stop();
    return [{ node: input.node, status: "failed", bytes, error: describeError(error) }];
  }
}

/** The verdict of a node whose share did not arrive. */
export function failed(node: string, error: unknown): GatherVerdict {
  return { node, status: "failed", bytes: 0, error: describeError(error) };
}
