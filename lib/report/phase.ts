/**
 * Phases of a node's installation — booted, partitioned, joined, received, configured, rebooting —
 * as nodes announce them (`kad join --phase`, `kad-phase:` lines of the post-install step) and the
 * server records them in its report.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** A phase a node went through, as it announces it. */
export interface PhaseNote {
  /** Phase name: a lowercase word such as "booted" (see {@link PHASE_NAME}). */
  phase: string;
  /** Free text about it ("" when none), at most {@link MAX_PHASE_DETAIL} characters. */
  detail: string;
}

/** A phase as the server recorded it. */
export interface PhaseRecord extends PhaseNote {
  /** False when the node failed in this phase. */
  ok: boolean;
  /** Seconds from the server's start to the moment the server learnt of it. */
  at: number;
}

/** What a phase name looks like: a lowercase letter, then up to 31 lowercase letters, digits or dashes. */
export const PHASE_NAME: RegExp = /^[a-z][a-z0-9-]{0,31}$/;

/** Longest detail text of a phase. */
export const MAX_PHASE_DETAIL = 512;

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
