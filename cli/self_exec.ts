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

/** The argv prefix that starts this kad: `[kad]` or `[deno, run, …permissions, entry]`. */
export function selfCommand(): string[] {
  const exec = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exec))) return [exec];
  return kadCommand(Deno.mainModule.startsWith("file:") ? fileURLToPath(Deno.mainModule) : Deno.mainModule);
}

/** The argv prefix that starts kad from `entry` (cli/main.ts, or the bundle dist/kad.js) with this deno. */
export function kadCommand(entry: string): string[] {
  return [Deno.execPath(), "run", "--quiet", ...KAD_PERMISSIONS, entry];
}
