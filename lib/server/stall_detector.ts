/**
 * Tells a hung node from a busy one. Nodes heartbeat about once a second (a timer, and the relay
 * loop after every frame); the server feeds every frame it hears to {@link StallDetector.heard}
 * and asks {@link StallDetector.overdue} a few times a second which nodes to fail as hung.
 *
 * A node is declared hung when it has been silent:
 * - longer than its timeout — the stall timeout once it streams (`stallMs`, 3 s by default), the
 *   peer timeout before (`waitMs`: linking, waiting for its upstream) — stretched to four deviations
 *   above the gaps actually seen between heartbeats, so a machine whose processes are starved of
 *   CPU (64 nodes on 2 cores) is not mistaken for a hung one;
 * - while most other nodes were heard within their own timeout: when more than half fall silent
 *   at once the server, the network or the whole machine stalled, not those nodes. Such a
 *   general silence is waited out up to `waitMs`, then the silent nodes fail anyway.
 * - Time the server itself did not run (its checks came late) is not counted against anyone.
 *
 * Pure: no timers, no sockets; time comes in as arguments (the simulator drives it too).
 *
 * @module
 */

/** Silence after which a streaming node is hung, by default: 3 missed heartbeats, detected in 3–4 s. */
export const DEFAULT_STALL_TIMEOUT_MS = 3000;

/** Options of a {@link StallDetector}. */
export interface StallDetectorOptions {
  /** Silence after which a streaming node is hung. */
  stallMs: number;
  /** Silence after which a node not streaming yet is hung, and the bound on waiting out a general silence. */
  waitMs: number;
  /** How often {@link StallDetector.overdue} is called (a later call means the server was stalled). */
  checkEveryMs: number;
}

interface Watched {
  lastHeard: number;
  streaming: boolean;
}

/** Weight of a new gap in the running mean and deviation of heartbeat gaps. */
const GAP_WEIGHT = 1 / 8;

/** Watches the heartbeats of the nodes of one deployment. */
export class StallDetector {
  readonly #options: StallDetectorOptions;
  readonly #nodes = new Map<string, Watched>();
  #gapMean = 0;
  #gapDeviation = 0;
  #lastCheck: number | null = null;

  /** Creates a detector watching nobody. */
  constructor(options: StallDetectorOptions) {
    this.#options = options;
  }

  /** Starts watching `node` (planned, not streaming yet) from `now`. */
  watch(node: string, now: number): void {
    this.#nodes.set(node, { lastHeard: now, streaming: false });
  }

  /** Stops watching `node` (it reported, or was failed). */
  forget(node: string): void {
    this.#nodes.delete(node);
  }

  /** `node` said something at `now`; `streaming`: it holds stream bytes. */
  heard(node: string, now: number, streaming = false): void {
    const watched = this.#nodes.get(node);
    if (watched === undefined) return;
    if (watched.streaming) this.#learnGap(now - watched.lastHeard);
    watched.lastHeard = now;
    watched.streaming ||= streaming;
  }

  /** The silence after which a streaming node is hung now: the stall timeout, or more on a busy machine. */
  get stallMs(): number {
    return Math.max(this.#options.stallMs, this.#gapMean + 4 * this.#gapDeviation);
  }

  /** The nodes to fail as hung at `now`, each with how long it was silent. */
  overdue(now: number): { node: string; silentMs: number }[] {
    this.#discountOwnStall(now);
    const silent: { node: string; silentMs: number }[] = [];
    for (const [node, watched] of this.#nodes) {
      const silentMs = now - watched.lastHeard;
      if (silentMs > (watched.streaming ? this.stallMs : this.#options.waitMs)) {
        silent.push({ node, silentMs });
      }
    }
    // more than half silent at once: a general stall, waited out up to the peer timeout
    if (silent.length * 2 > this.#nodes.size && this.#nodes.size > 1) {
      return silent.filter((s) => s.silentMs > this.#options.waitMs);
    }
    return silent;
  }

  /** A check that comes late means this process was not running: that time is nobody's silence. */
  #discountOwnStall(now: number): void {
    const last = this.#lastCheck;
    this.#lastCheck = now;
    if (last === null) return;
    const late = now - last - this.#options.checkEveryMs;
    if (late <= this.#options.checkEveryMs) return;
    for (const watched of this.#nodes.values()) watched.lastHeard = Math.min(now, watched.lastHeard + late);
  }

  #learnGap(gap: number): void {
    if (this.#gapMean === 0) {
      this.#gapMean = gap;
      this.#gapDeviation = gap / 2;
      return;
    }
    this.#gapDeviation += GAP_WEIGHT * (Math.abs(gap - this.#gapMean) - this.#gapDeviation);
    this.#gapMean += GAP_WEIGHT * (gap - this.#gapMean);
  }
}
