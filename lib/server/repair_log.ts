/**
 * The repair coordinator's book: the repairs under way (a child moved under a new feeder, waiting to
 * be fed) and the ones that ended, made or failed, with what they cost. A late joiner's first feed
 * is kept the same way, and told apart when it ends.
 *
 * @module
 */

import type { WireError } from "../protocol/messages.ts";
import type { RepairRecord } from "../report/report.ts";
import { roundSeconds } from "../time/seconds.ts";
import type { CoordinatorCommand } from "./repair_commands.ts";

/** A repair under way. */
export interface PendingRepair {
  /** What failed ("" for a late joiner's first feed). */
  failed: string;
  /** Its new feeder. */
  upstream: string;
  /** When it was first decided (ms). */
  startedAt: number;
  /** A late joiner's first feed, not a repair. */
  graft: boolean;
}

/** How a repair ended. */
export interface RepairEnd {
  /** The offset the child was fed from (null when it never got that far). */
  offset: number | null;
  /** Bytes resent. */
  resent: number;
  /** Why it failed, or null. */
  error: WireError | null;
}

/** The repairs of one deployment. */
export class RepairLog {
  readonly #pending = new Map<string, PendingRepair>();
  readonly #records: RepairRecord[] = [];

  /** Every repair ended so far, in order. */
  get records(): readonly RepairRecord[] {
    return this.#records;
  }

  /** `child` waits to be fed by `repair.upstream`; a repair handed on keeps its first time. */
  open(child: string, repair: PendingRepair): void {
    this.#pending.set(child, repair);
  }

  /** The repair under way for `child` when `by` is its feeder, else undefined. */
  pendingFrom(child: string, by: string): PendingRepair | undefined {
    const pending = this.#pending.get(child);
    return pending?.upstream === by ? pending : undefined;
  }

  /** The repair under way for `child`, if any. */
  pendingOf(child: string): PendingRepair | undefined {
    return this.#pending.get(child);
  }

  /** The children waiting to be fed by `feeder`. */
  waitingOn(feeder: string): string[] {
    return [...this.#pending].filter(([, p]) => p.upstream === feeder).map(([child]) => child);
  }

  /** Forgets `child`'s repair (the child itself is gone). */
  drop(child: string): void {
    this.#pending.delete(child);
  }

  /** Ends `child`'s repair at `now` (ms) as `end` says; returns the command that tells it. */
  close(child: string, end: RepairEnd, now: number): CoordinatorCommand | null {
    const pending = this.#pending.get(child);
    if (pending === undefined) return null;
    this.#pending.delete(child);
    if (pending.graft) return { type: "grafted", node: child, ...end };
    const repair: RepairRecord = {
      failed: pending.failed,
      child,
      upstream: pending.upstream,
      offset: end.offset,
      resentBytes: end.resent,
      seconds: roundSeconds((now - pending.startedAt) / 1000),
      error: end.error,
    };
    this.#records.push(repair);
    return { type: "repaired", repair };
  }
}
