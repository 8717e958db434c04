/**
 * How to start another kad process: the compiled binary runs itself; from source or from the
 * bundle, the same deno runs the same entry module with kad's permissions.
 *
 * @module
 */

import { basename } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The permissions kad runs with: all. kad runs tar, dd and shells (`--allow-run`), which is all
 * access already; and Deno grants block devices (`kad serve /dev/sda`, `--out /dev/sdb`) and
 * /dev/shm only to `--allow-all`. See the README's security section.
 */
export const KAD_PERMISSIONS: readonly string[] = ["--allow-all"];

/**
 * The V8 flags kad runs with: a young generation of at most 2 × 2 MB. V8 grows it up to 2 × 16 MB
 * under a steady stream of short-lived objects (a node's reads, writes and their promises), and
 * the old generation grows in step; a node's resident memory rose by ~25 MiB over a 16 GB stream
 * while its live heap stayed near 10 MB. Capped, memory is flat and CPU no worse (bench/memory.ts).
 */
export const KAD_V8_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=2"];

/** Every flag of `deno run` (or `deno compile`) that kad needs: its permissions and V8 flags. */
export const KAD_DENO_FLAGS: readonly string[] = [...KAD_PERMISSIONS, ...KAD_V8_FLAGS];

/** The argv prefix that starts this kad: `[kad]` or `[deno, run, …permissions, entry]`. */
export function selfCommand(): string[] {
  const exec = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exec))) return [exec];
  return kadCommand(Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : Deno.mainModule);
}

/** The argv prefix that starts kad from `entry` (cli/main.ts, or the bundle dist/kad.js) with this deno. */
export function kadCommand(entry: string): string[] {
  return [Deno.execPath(), "run", "--quiet", ...KAD_DENO_FLAGS, entry];
}
