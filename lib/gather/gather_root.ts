/**
 * The head's end of a gather (`kad gather`): receives what the root's children send into `--to
 * DIR` — each node's file or command output as DIR/NODE, its directory extracted in DIR/NODE/ —
 * or, with a merge, the merge of their streams as DIR/merged. A copy is in place under its name
 * only once it arrived whole and verified; what did not is named in the verdicts (a merged stream
 * missing a node's share is left as DIR/merged.incomplete).
 *
 * @module
 */

import { join } from "node:path";
import { writeAll } from "../net/frame_conn.ts";
import { describeError } from "../errors.ts";
import { ChildProcess } from "../process/child_process.ts";
import type { GatherVerdict } from "../protocol/agent_messages.ts";
import type { GatherInbox } from "./gather_inbox.ts";
import { type IncomingLink, receiveGatherStream } from "./gather_link.ts";
import { failed, mergeInputs } from "./gather_merge.ts";

/** The name of the merged output in `--to DIR`. */
export const MERGED_NAME = "merged";

/** The head's side of one gather. */
export interface GatherRootOptions {
  /** The job. */
  job: string;
  /** The job's key. */
  key: Uint8Array;
  /** Every node the gather went to. */
  nodes: readonly string[];
  /** The nodes that send to the head. */
  children: readonly string[];
  /** The merge command, or null. */
  merge: string | null;
  /** Where copies go (made if missing). */
  toDir: string;
  /** Where links arrive. */
  inbox: GatherInbox;
}

/** One verdict per node, in the plan's order, and the files or directories written. */
export interface GatherResult {
  /** Every node's verdict. */
  verdicts: GatherVerdict[];
  /** What was written into the directory. */
  written: string[];
}

/** Receives the gather; resolves once every child's link ended. */
export async function runGatherRoot(options: GatherRootOptions): Promise<GatherResult> {
  await Deno.mkdir(options.toDir, { recursive: true });
  const links = options.inbox.expect(options.job, options.key, options.children);
  const written: string[] = [];
  let heard: GatherVerdict[];
  try {
    heard = options.merge === null
      ? (await Promise.all([...links].map(([node, link]) => receiveCopy(options.toDir, node, link, written))))
        .flat()
      : await receiveMerged(options, links, written);
  } finally {
    options.inbox.forget(options.job);
  }
  const byNode = new Map(heard.map((v) => [v.node, v]));
  const verdicts = options.nodes.map((node) =>
    byNode.get(node) ?? {
      node,
      status: "failed" as const,
      bytes: 0,
      error: "its share never reached the head (its link, or that of a node above it, failed)",
    }
  );
  return { verdicts, written };
}

/** One node's stream into DIR/NODE (a file, or a directory extracted by tar). */
async function receiveCopy(
  dir: string,
  node: string,
  pending: Promise<IncomingLink>,
  written: string[],
): Promise<GatherVerdict[]> {
  const target = join(dir, node);
  let link: IncomingLink;
  try {
    link = await pending;
  } catch (error) {
    return [failed(node, error)];
  }
  if (link.stream === "tar") {
    await Deno.mkdir(target, { recursive: true });
    const tar = ChildProcess.spawn({
      program: "tar",
      args: ["-x", "-C", target],
      label: `tar -x into ${target}`,
      failureCode: "LWF",
      stdin: "piped",
      stdout: "null",
    });
    try {
      const received = await receiveGatherStream(link, (bytes) => tar.write(bytes));
      await tar.closeInput();
      await tar.wait();
      written.push(target + "/");
      return received.verdicts;
    } catch (error) {
      await tar.stop();
      return [failed(node, error)];
    }
  }
  const partial = join(dir, `.${node}.kad-partial`);
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  try {
    const received = await receiveGatherStream(link, async (bytes) => {
      await writeAll(file, bytes);
    });
    file.close();
    await Deno.rename(partial, target);
    written.push(target);
    return received.verdicts;
  } catch (error) {
    try {
      file.close();
    } catch {
      // closed
    }
    await Deno.remove(partial).catch(() => {});
    return [failed(node, error)];
  }
}

/** The children's streams merged into DIR/merged (DIR/merged.incomplete when a share is missing). */
async function receiveMerged(
  options: GatherRootOptions,
  links: Map<string, Promise<IncomingLink>>,
  written: string[],
): Promise<GatherVerdict[]> {
  const partial = join(options.toDir, `.${MERGED_NAME}.kad-partial`);
  const merged = await mergeInputs(options.merge!, null, links);
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  try {
    await merged.output.pipeTo(file.writable);
  } catch (error) {
    await merged.output.cancel().catch(() => {});
    const verdicts = await merged.verdicts;
    await Deno.remove(partial).catch(() => {});
    return verdicts.map((v) => ({ ...v, status: "failed", error: v.error || describeError(error) }));
  }
  const verdicts = await merged.verdicts;
  const whole = verdicts.length === options.nodes.length && verdicts.every((v) => v.status === "ok");
  const target = join(options.toDir, whole ? MERGED_NAME : `${MERGED_NAME}.incomplete`);
  await Deno.rename(partial, target);
  written.push(target);
  return verdicts;
}
