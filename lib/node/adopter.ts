/**
 * A node's side of the server's repairs: it stops feeding a child the server dropped and feeds the
 * children it is told to adopt, each from what that child holds, once its own fan-out runs.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import { type LinkPeer, type WireError, wireError } from "../protocol/messages.ts";
import type { Downstream } from "../relay/downstream.ts";
import { type FanOut, NotRetainedError } from "../relay/fan_out.ts";
import { logger } from "../log.ts";

const log = logger("node");

/** What the adopter needs from its node. */
export interface AdopterOptions {
  /** This node's name. */
  self: string;
  /** The control connection to the server (ADOPTED, ADOPT_FAILED). */
  control: FrameConn;
  /** The key of the link this node → `child` (null on an `--insecure` deployment). */
  linkKey: (child: LinkPeer) => Uint8Array | null;
}

/** Carries out DROP for one node. */
export class Adopter {
  readonly #options: AdopterOptions;
  readonly #adoptions = new Set<Promise<void>>();
  #feeding: { fanOut: FanOut; downstream: Downstream } | null = null;
  #fedReady!: (ready: boolean) => void;
  /** Resolves once the fan-out feeds children (true), or the node gave up before (false). */
  readonly #fed = new Promise<boolean>((resolve) => this.#fedReady = resolve);
  /** False once the node is about to report: later adoptions are refused. */
  #open = true;

  constructor(options: AdopterOptions) {
    this.#options = options;
  }

  /** The node's fan-out runs: adoptions waiting for it go ahead. */
  feeding(fanOut: FanOut, downstream: Downstream): void {
    this.#feeding = { fanOut, downstream };
    this.#fedReady(true);
  }

  /** The node failed before its fan-out ran: adoptions waiting for it are refused. */
  failed(): void {
    this.#fedReady(false);
  }

  /** The server's repair (DROP): stop feeding `drop`, feed each of `adopt` from what it holds. */
  repair(drop: string, reason: WireError, adopt: LinkPeer[]): void {
    log.debug("Dropping {drop} ({code}); adopting {adopt}", {
      drop,
      code: reason.code,
      adopt: adopt.map((c) => c.name).join(" ") || "nobody",
    });
    this.#feeding?.fanOut.failOutput(drop, new KadError(reason.code, reason.message, { node: drop }));
    const adoption = Promise.all(adopt.map((child) => this.#adopt(child))).then(() => {
      this.#feeding?.fanOut.release(drop);
    });
    this.#adoptions.add(adoption);
    adoption.finally(() => this.#adoptions.delete(adoption));
  }

  /** No more adoptions; waits for those under way. */
  async close(): Promise<void> {
    this.#open = false;
    while (this.#adoptions.size > 0) await Promise.all(this.#adoptions);
  }

  async #adopt(child: LinkPeer): Promise<void> {
    const control = this.#options.control;
    const failed = (offset: number, error: WireError) =>
      control.send(FrameType.ADOPT_FAILED, { ...error, child: child.name, offset }).catch(() => {});
    if (!this.#open || !await this.#fed || !this.#open) {
      return await failed(0, { code: "NNF", message: `${this.#options.self} has finished its stream` });
    }
    try {
      const adopted = await this.#feeding!.downstream.adopt(child, this.#options.linkKey(child));
      await control.send(FrameType.ADOPTED, adopted).catch(() => {});
    } catch (error) {
      await failed(error instanceof NotRetainedError ? error.offset : 0, wireError(error, "NNF"));
    }
  }
}
