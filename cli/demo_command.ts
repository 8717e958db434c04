/**
 * `kad demo` (placeholder until the demo lands).
 *
 * @module
 */
import type { ParsedFlags } from "./flags.ts";
/** Runs the demo. */
export function demoCommand(_flags: ParsedFlags, _positionals: string[]): Promise<number> {
  return Promise.resolve(1);
}
