/**
 * Which node holds the chain back. In a back-pressured chain every node moves at the pace of the
 * slowest, so speeds do not tell it; waits do. Every feeder (a node, or the server) says which
 * output its reading waited for most, and for what share of the time (PROGRESS `blocked`). Behind
 * a slow node every feeder above it waits for its own child — but each of those children waits in
 * turn for one of its children. The slow node is the child its feeder waits for that does not
 * itself wait for a child of its own: it waits for its sink, or for nothing (its link is slow).
 * Seen so for {@link SLOW_HOLD_MS}, the server moves it off the chain (repair_coordinator.ts) and
 * feeds it on its own.
 *
 * @module
 */

import type { Blocked } from "../protocol/messages.ts";

/** The share of the time a feeder must wait for one child to be held back by it. */
export const SLOW_SHARE = 0.5;
/** How long a child must hold its feeder back to be slow. */
export const SLOW_HOLD_MS = 1000;

/** What one feeder said held it back. */
export interface FeederWait {
  /** The feeder: a node, or the server. */
  feeder: string;
  /** What it waited for most, and the share of the time. */
  blocked: Blocked;
}

/** Watches what feeders wait for. */
export class SlowNodes {
  /** Each child holding its feeder back now, since when (ms). */
  readonly #since = new Map<string, number>();

  /**
   * One look at time `now` (ms) at what every feeder waited for, with the topology's
   * `childrenOf`: the nodes that have held their feeder back for long enough.
   */
  look(now: number, waits: readonly FeederWait[], childrenOf: (node: string) => readonly string[]): string[] {
    const waitsFor = new Map<string, string>();
    for (const { feeder, blocked } of waits) {
      if (blocked.share >= SLOW_SHARE && childrenOf(feeder).includes(blocked.by)) {
        waitsFor.set(feeder, blocked.by);
      }
    }
    const holding = [...waitsFor.values()].filter((child) => !waitsFor.has(child));
    const slow: string[] = [];
    for (const child of holding) {
      const since = this.#since.get(child) ?? now;
      this.#since.set(child, since);
      if (now - since >= SLOW_HOLD_MS) slow.push(child);
    }
    for (const child of this.#since.keys()) if (!holding.includes(child)) this.#since.delete(child);
    return slow;
  }
}
