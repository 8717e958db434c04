/**
 * A process's own numbers: its peak memory starts with the program, not with the process that
 * started it (getrusage's ru_maxrss survives execve).
 */

import { assert } from "../_helpers/assert.ts";
import { fileURLToPath } from "node:url";

const MODULE = fileURLToPath(new URL("../../lib/process/resource_usage.ts", import.meta.url));

Deno.test("resource usage: a kad started by a process holding 400 MB reports its own peak RSS, not its parent's", async () => {
  const ballast = new Uint8Array(400 * 2 ** 20).fill(1); // resident in this (the parent) process
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { peakRssBytes } from "${MODULE}"; console.log(peakRssBytes());`],
    stdout: "piped",
  }).output();
  assert(ballast[ballast.length - 1] === 1);
  const peak = Number(new TextDecoder().decode(child.stdout).trim());
  assert(peak > 10 * 2 ** 20, `a peak of ${peak} bytes is not a Deno process's`);
  assert(peak < 200 * 2 ** 20, `the child reported ${(peak / 2 ** 20).toFixed(0)} MiB: its parent's peak`);
});
