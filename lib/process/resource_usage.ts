/**
 * This process's resource usage (peak memory, CPU time), for reports and benchmarks.
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

/** User + system CPU seconds used by this process so far (Linux), or null where unknown. */
export function cpuSeconds(): number | null {
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    // fields after the parenthesised command name; utime and stime are fields 14 and 15
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

/** USER_HZ on Linux: 100 on every mainstream architecture. */
const CLOCK_TICKS_PER_SECOND = 100;
