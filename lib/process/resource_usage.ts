/**
 * This process's resource usage (peak memory, CPU time), for reports and benchmarks.
 *
 * @module
 */

import process from "node:process";

/**
 * Peak resident memory of this process in bytes: VmHWM of /proc/self/status, which starts afresh
 * with the program. getrusage's ru_maxrss, the fallback where /proc cannot be read (Deno opens it
 * only under --allow-all), survives execve: a kad started by a large process (a test runner, an
 * agent) would report its parent's peak as its own.
 */
export function peakRssBytes(): number {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(Deno.readTextFileSync("/proc/self/status"));
    if (kib) return Number(kib[1]) * 1024;
  } catch {
    // not Linux, or no permission
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** User + system CPU seconds used by this process so far. */
export function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
