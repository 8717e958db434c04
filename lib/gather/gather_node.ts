/**
 * A node's part in a gather (`kad agent` runs it when the head says so): open its own stream, link
 * to its parent, and send — its own stream as it is, or, with children, the merge of its own with
 * theirs — followed by the verdicts of its subtree.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import type { GatherSource, GatherVerdict } from "../protocol/agent_messages.ts";
import type { GatherInbox } from "./gather_inbox.ts";
import { openGatherLink, sendGatherStream } from "./gather_link.ts";
import { mergeInputs, type OwnInput } from "./gather_merge.ts";
import { openOwnStream } from "./gather_source.ts";

/** One node's orders for a gather. */
export interface GatherNodeJob {
  /** The job, this node's name in it, the job's key. */
  job: string;
  node: string;
  key: Uint8Array;
  /** Where to send. */
  parent: { host: string; port: number };
  /** The nodes that send to this one (only with a merge). */
  children: string[];
  /** What this node gives. */
  source: GatherSource;
  /** The merge command, or null. */
  merge: string | null;
  /** Limit on links and handshakes. */
  timeoutMs: number;
}

/**
 * Does this node's part; resolves with what it reported once its stream is sent.
 * @throws {KadError} when the parent cannot be reached or the link breaks.
 */
export async function runGatherNode(job: GatherNodeJob, inbox: GatherInbox): Promise<GatherVerdict[]> {
  const links = inbox.expect(job.job, job.key, job.children);
  const input = await openOwnInput(job);
  try {
    const conn = await openGatherLink({
      ...job.parent,
      job: job.job,
      node: job.node,
      key: job.key,
      stream: input.own?.kind ?? "raw",
      timeoutMs: job.timeoutMs,
    });
    try {
      if (job.merge === null || job.children.length === 0) {
        let verdicts: GatherVerdict[] = [];
        const stream = input.own?.stream ?? new Blob([]).stream();
        await sendGatherStream(conn, stream, async (bytes) => verdicts = [await ownVerdict(input, bytes)]);
        return verdicts;
      }
      const merged = await mergeInputs(job.merge, input, links);
      let verdicts: GatherVerdict[] = [];
      await sendGatherStream(conn, merged.output, async () => verdicts = await merged.verdicts);
      return verdicts;
    } finally {
      conn.close();
    }
  } finally {
    await input.own?.stop();
    inbox.forget(job.job);
  }
}

/** The verdict of a node's own stream once it was sent: whole when its source ended well. */
async function ownVerdict(input: OwnInput, bytes: number): Promise<GatherVerdict> {
  if (input.own === null) return { node: input.node, status: "failed", bytes, error: input.error };
  try {
    await input.own.done;
    return { node: input.node, status: "ok", bytes, error: "" };
  } catch (error) {
    return { node: input.node, status: "failed", bytes, error: describeError(error) };
  }
}

async function openOwnInput(job: GatherNodeJob): Promise<OwnInput> {
  try {
    const own = await openOwnStream(job.source);
    if (job.merge !== null && own.kind === "tar") {
      await own.stop();
      return {
        node: job.node,
        own: null,
        error: `--merge takes a file or a command's output, and ${job.source.value} is a directory`,
      };
    }
    return { node: job.node, own, error: "" };
  } catch (error) {
    return { node: job.node, own: null, error: describeError(error) };
  }
}
