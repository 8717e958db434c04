/**
 * The stall detector (stall_detector.ts) at work on a deployment: checked a few times a second,
 * it closes the control connection of a node silent for too long — the node is then lost and
 * repaired around, or, during its post-install step, that step is.
 *
 * @module
 */

import { logger } from "../log.ts";
import type { NodeSession } from "./node_session.ts";
import { StallDetector } from "./stall_detector.ts";

const log = logger("server");
/** How often silences are checked. */
const STALL_CHECK_MS = 250;

/** Watches the heartbeats of a deployment's nodes and cuts off the hung ones. */
export class StallWatch extends StallDetector {
  readonly #sessions: ReadonlyMap<string, NodeSession>;
  #timer: ReturnType<typeof setInterval> | null = null;

  /** `stallMs`: silence that fails a streaming node; `waitMs`: one not streaming yet. */
  constructor(stallMs: number, waitMs: number, sessions: ReadonlyMap<string, NodeSession>) {
    super({ stallMs, waitMs, checkEveryMs: STALL_CHECK_MS });
    this.#sessions = sessions;
  }

  /** Starts checking. */
  start(): void {
    this.#timer ??= setInterval(() => this.#check(), STALL_CHECK_MS);
  }

  /** Stops checking. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #check(): void {
    for (const { node, silentMs } of this.overdue(performance.now())) {
      const session = this.#sessions.get(node);
      this.forget(node);
      if (session === undefined) continue;
      const message = `No word from ${node} for ${(silentMs / 1000).toFixed(1)} s: hung, or cut off`;
      log.debug("{node} is silent past the stall limit ({limit} ms)", {
        node,
        limit: Math.round(this.stallMs),
      });
      // during its post-install step the loss is that step's (node_follower.ts), else the node's
      if (session.report === null) session.lost ??= { code: "TIMEOUT", message };
      else session.endPostInstall({ lost: message });
      session.control.close();
    }
  }
}
