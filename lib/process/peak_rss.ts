/**
 * This process's peak resident memory, for reports and benchmarks.
 *
 * @module
 */

/** Peak RSS in bytes (Linux VmHWM), or the current RSS where /proc is not available. */
export function peakRssBytes(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return Deno.memoryUsage().rss;
}
