/**
 * This process's resource usage (peak memory, CPU time), for reports and benchmarks. Deno only
 * lets a fully privileged process read /proc/self, so this goes through node:process's
 * getrusage, which needs no permission.
 *
 * @module
 */

import process from "node:process";

/** Peak resident memory of this process in bytes (getrusage ru_maxrss). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** User + system CPU seconds used by this process so far. */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
