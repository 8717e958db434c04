/**
 * Phases of a node's installation — booted, partitioned, joined, received, configured, rebooting —
 * as nodes announce them (`kad join --phase`, `kad-phase:` lines of the post-install step) and the
 * server records them in its report.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { MAX_PHASE_DETAIL, PHASE_NAME } from "../protocol/limits.ts";
import type { PhaseNote } from "../protocol/messages.ts";

export { MAX_PHASE_DETAIL, PHASE_NAME } from "../protocol/limits.ts";
export type { PhaseNote } from "../protocol/messages.ts";

/** A phase as the server recorded it. */
export interface PhaseRecord extends PhaseNote {
  /** False when the node failed in this phase. */
  ok: boolean;
  /** Seconds from the server's start to the moment the server learnt of it. */
  at: number;
}

/** Phases the server keeps per node; later ones are dropped (a node cannot grow the server's memory). */
export const MAX_PHASES_PER_NODE = 64;

/** The phase the server records when a node joins. */
export const JOINED_PHASE = "joined";
/** The phase the server records when a node reports its stream. */
export const RECEIVED_PHASE = "received";
/** The phase that ends a node's post-install step. */
export const POST_INSTALL_PHASE = "post-install";

/**
 * Reads `NAME` or `NAME:DETAIL` (the `--phase` option).
 * @throws {ConfigError} for a name that is not a phase name.
 */
export function parsePhaseNote(text: string): PhaseNote {
  const colon = text.indexOf(":");
  const phase = colon < 0 ? text : text.slice(0, colon);
  const detail = colon < 0 ? "" : text.slice(colon + 1).trim();
  if (!PHASE_NAME.test(phase)) {
    throw new ConfigError(
      `Bad phase "${phase}": a phase name is a lowercase word (letters, digits, dashes; at most 32)`,
    );
  }
  return { phase, detail: clipDetail(detail) };
}

/** A detail text cut to {@link MAX_PHASE_DETAIL} characters, without control characters. */
export function clipDetail(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, " ").slice(0, MAX_PHASE_DETAIL);
}
