/**
 * The partition layout nodes apply with `sfdisk`: captured from the source's disk with
 * `sfdisk --dump` and made portable — what names one disk (its label id, device name, partition
 * UUIDs, the last usable sector of GPT) is left out, so sfdisk makes fresh ones on every node and
 * fits the table to each disk.
 *
 * @module
 */

import { runTool } from "../lib/process/host_tool.ts";

/** `sfdisk --dump DEVICE` (a disk or a disk image), made portable by {@link portableLayout}. */
export async function captureLayout(device: string): Promise<string> {
  const dump = await runTool("sfdisk", ["--dump", device], `sfdisk --dump ${device}`);
  return portableLayout(dump);
}

/** Header lines that belong to one disk. */
const DISK_SPECIFIC = /^(label-id|device|last-lba):/;

/** An sfdisk dump without what names one disk; partition lines keep their fields but `uuid=`. */
export function portableLayout(dump: string): string {
  const out: string[] = [];
  for (const line of dump.split("\n")) {
    if (DISK_SPECIFIC.test(line)) continue;
    const partition = /^\S+\s*:\s*(start=.*)$/.exec(line);
    if (partition === null) {
      out.push(line);
      continue;
    }
    const fields = partition[1].split(",").map((f) => f.trim()).filter((f) => !f.startsWith("uuid="));
    out.push(fields.map((f) => f.replace(/=\s+/, "=")).join(", "));
  }
  return out.join("\n").replace(/\n*$/, "\n");
}
