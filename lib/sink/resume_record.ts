/**
 * What a file copy (`kad join --out FILE`) keeps beside it while it streams, so that a node killed or
 * rebooted mid-stream can take up its copy where it was cut off: next to the partial file
 * `.FILE.kad-partial`, a record `.FILE.kad-resume` naming the deployment, the node's name in it and
 * the stream's frame size. Both go once the copy is committed or given up.
 *
 * @module
 */

import { dirname, join } from "node:path";

/** The record of a copy under way. */
export interface ResumeRecord {
  /** The deployment the copy belongs to. */
  deployment: string;
  /** The node's name in it. */
  name: string;
  /** Payload bytes of every DATA frame but the last: a resumed copy starts at a whole frame. */
  frameBytes: number;
}

/** Where the bytes of a copy of `path` go until it is verified. */
export function partialPathOf(path: string): string {
  return join(dirname(path), `.${path.split("/").pop()}.kad-partial`);
}

/** Where the record of a copy of `path` is kept. */
export function resumeRecordPath(path: string): string {
  return join(dirname(path), `.${path.split("/").pop()}.kad-resume`);
}

/** Writes the record of a copy of `path` (replacing any). */
export async function writeResumeRecord(path: string, record: ResumeRecord): Promise<void> {
  await Deno.writeTextFile(resumeRecordPath(path), JSON.stringify(record) + "\n");
}

/** Removes the record of a copy of `path`, if any. */
export async function removeResumeRecord(path: string): Promise<void> {
  await Deno.remove(resumeRecordPath(path)).catch(() => {});
}

/**
 * A copy of `path` cut off mid-stream: its record and the bytes of it that can be taken up (the
 * partial file's whole frames); null when there is none, or nothing to take up.
 */
export async function readResume(path: string): Promise<{ record: ResumeRecord; holds: number } | null> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(resumeRecordPath(path)));
    const { deployment, name, frameBytes } = raw ?? {};
    if (typeof deployment !== "string" || typeof name !== "string" || !Number.isSafeInteger(frameBytes)) {
      return null;
    }
    if (frameBytes <= 0 || deployment === "" || name === "") return null;
    const size = (await Deno.stat(partialPathOf(path))).size;
    const holds = Math.floor(size / frameBytes) * frameBytes;
    return holds > 0 ? { record: { deployment, name, frameBytes }, holds } : null;
  } catch {
    return null; // no record, no partial file, or a record not ours: start afresh
  }
}
