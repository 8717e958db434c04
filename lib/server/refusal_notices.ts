/**
 * Refusals as the server's operator is told of them: at most once per address and kind every
 * {@link REFUSAL_NOTICE_MS}, with the count of those left untold — a flood of wrong-token joins or of
 * connections that never say HELLO makes a line every ten seconds, not thousands.
 *
 * @module
 */

import type { ErrorCode } from "../errors.ts";

/** Refusals from one address (of one kind) are told at most this often. */
export const REFUSAL_NOTICE_MS = 10_000;
/** Addresses whose refusals are remembered before quiet ones are forgotten. */
const MAX_REMEMBERED = 4096;

/** A refusal, as the server's operator is told of it. */
export interface Refusal {
  /** The node's name, or "" when it never said HELLO. */
  name: string;
  /** The address it came from. */
  address: string;
  /** The code it was refused with ("FLOOD": dropped before HELLO for lack of room). */
  code: ErrorCode | "FLOOD";
  /** Why. */
  reason: string;
  /** Refusals from that address not told since the last notice. */
  untold: number;
}

/** Rate-limits refusal notices per address and code. */
export class RefusalNotices {
  readonly #told = new Map<string, { at: number; untold: number }>();

  /** The refusal to tell now, or null when one like it was told less than {@link REFUSAL_NOTICE_MS} ago. */
  note(refusal: Omit<Refusal, "untold">, now: number): Refusal | null {
    const key = `${refusal.address} ${refusal.code}`;
    const last = this.#told.get(key);
    if (last !== undefined && now - last.at < REFUSAL_NOTICE_MS) {
      last.untold++;
      return null;
    }
    if (this.#told.size >= MAX_REMEMBERED) { // many addresses: forget those quiet for a while
      for (const [k, n] of this.#told) if (now - n.at >= REFUSAL_NOTICE_MS) this.#told.delete(k);
    }
    this.#told.set(key, { at: now, untold: 0 });
    return { ...refusal, untold: last?.untold ?? 0 };
  }
}
