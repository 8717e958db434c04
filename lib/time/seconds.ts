/**
 * Times as kad prints and writes them: seconds with millisecond precision.
 *
 * @module
 */

/** Seconds with 3 decimals and no float noise (2.062 rather than 2.0622928419999997). */
export function roundSeconds(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}
