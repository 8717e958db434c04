/**
 * Which node holds the chain back. In a back-pressured chain every node moves at the pace of the
 * slowest, so speeds alone do not tell it; waits do. Every feeder (a node, or the server) says which
 * output its reading waited for most, and for what share of the time (PROGRESS `blocked`). Behind
 * a slow node every feeder above it waits for its own child — but each of those children waits in
 * turn for one of its children. The slow node is the child its feeder waits for that does not
 * itself wait for a child of its own: it waits for its sink, or for nothing (its link is slow).
 *
 * A chain running at the wire's speed waits too, everywhere: its tail's feeder waits for the tail.
 * So the node must also be slow for this deployment: moving at less than {@link SLOW_FACTOR} of the
 * best rate any node reached — but moving: one that does not is hung, for the stall detector.
 *
 * The weak point is that reference: the best rate is one some node reached, bursts included (rings
 * filling at the start, a port's token bucket). Where nodes share a machine's cores, a chain's own
 * pace is often under half of it, and a leaf its feeder waits for at that pace looks slow: a
 * hung-node spec on a 2-core netlab ran 51 → 75 s with nodes moved for nothing. So moving is
 * opt-in (`kad serve --slow-nodes move`). Seen so for {@link SLOW_HOLD_MS}, the server moves it off the chain
 * (repair_coordinator.ts) and feeds it on its own.
 *
 * @module
 */

import type { Blocked } from "../protocol/messages.ts";

/**
 * The share of the time a feeder must wait for one child to be held back by it: behind a node on a
 * quarter of the others' speed its feeder waits 85–100 % of the time; in a chain at the wire's speed
 * feeders wait for their children too, but less.
 */
export const SLOW_SHARE = 0.8;
/** A node moving at less than this share of the best rate seen is slow (when its feeder waits for it). */
export const SLOW_FACTOR = 0.5;
/** How long a child must hold its feeder back to be slow. */
export const SLOW_HOLD_MS = 1000;
/** The shortest time over which a node's rate is measured. */
const RATE_SPAN_MS = 500;

/** What one feeder said held it back. */
export interface FeederWait {
  /** The feeder: a node, or the server. */
  feeder: string;
  /** What it waited for most, and the share of the time. */
  blocked: Blocked;
}

/** Watches what feeders wait for, and how fast nodes go. */
export class SlowNodes {
  /** Each child holding its feeder back now, since when (ms). */
  readonly #since = new Map<string, number>();
  /** Each node's bytes when its rate was last measured. */
  readonly #last = new Map<string, { at: number; bytes: number }>();
  /** Each node's rate over its last span (bytes/ms). */
  readonly #rate = new Map<string, number>();
  /** The best rate any node reached (bytes/ms). */
  #best = 0;

  /**
   * One look at time `now` (ms): what every feeder waited for, each node's bytes, and the
   * topology's `childrenOf`. Returns the nodes that have held their feeder back for long enough.
   */
  look(
    now: number,
    waits: readonly FeederWait[],
    bytes: ReadonlyMap<string, number>,
    childrenOf: (node: string) => readonly string[],
  ): string[] {
    this.#measure(now, bytes);
    const waitsFor = new Map<string, string>();
    for (const { feeder, blocked } of waits) {
      if (blocked.share >= SLOW_SHARE && childrenOf(feeder).includes(blocked.by)) {
        waitsFor.set(feeder, blocked.by);
      }
    }
    // a node that does not move at all is hung, not slow: the stall detector repairs around it
    const slowRate = (child: string) => {
      const rate = this.#rate.get(child) ?? 0;
      return rate > 0 && rate < SLOW_FACTOR * this.#best;
    };
    const holding = [...waitsFor.values()].filter((child) => !waitsFor.has(child) && slowRate(child));
    const slow: string[] = [];
    for (const child of holding) {
      const since = this.#since.get(child) ?? now;
      this.#since.set(child, since);
      if (now - since >= SLOW_HOLD_MS) slow.push(child);
    }
    for (const child of this.#since.keys()) if (!holding.includes(child)) this.#since.delete(child);
    return slow;
  }

  #measure(now: number, bytes: ReadonlyMap<string, number>): void {
    for (const [node, held] of bytes) {
      const last = this.#last.get(node);
      if (last === undefined) {
        this.#last.set(node, { at: now, bytes: held });
        continue;
      }
      if (now - last.at < RATE_SPAN_MS) continue;
      const rate = (held - last.bytes) / (now - last.at);
      this.#rate.set(node, rate);
      this.#best = Math.max(this.#best, rate);
      this.#last.set(node, { at: now, bytes: held });
    }
  }
}
