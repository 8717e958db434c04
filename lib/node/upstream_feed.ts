/**
 * Where a node's stream comes from over its whole run: the planned upstream's link, and when that
 * link is lost, the new one a repair brings (the node tells the server what it holds and waits for
 * it). It relays every frame into the fan-out and acknowledges to the upstream what the node and
 * its children hold, so the upstream keeps what they may still need.
 *
 * @module
 */

import { AbortReceivedError, describeError, KadError } from "../errors.ts";
import type { StreamHasher } from "../integrity/stream_hash.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import { type EndMessage, wireError } from "../protocol/messages.ts";
import type { FanOut } from "../relay/fan_out.ts";
import { type ByteCounter, relayFrames } from "../relay/stream_pump.ts";
import { UpstreamAcceptor, type UpstreamAcceptorOptions } from "../relay/upstream_acceptor.ts";
import type { StreamSeal } from "../security/stream_seal.ts";
import type { JoinEvent } from "./join.ts";
import { logger } from "../log.ts";

const log = logger("node");
/** A node acknowledges to its upstream each time what it (or a child) holds moved this far. */
const ACK_STEP_BYTES = 1 << 20;
/** How long a link from a node the server has not named yet may wait for the server's word. */
const PARK_MS = 5000;

/** Options of an {@link UpstreamFeed}. */
export interface UpstreamFeedOptions extends Omit<UpstreamAcceptorOptions, "parkMs" | "onLink"> {
  /** The node's control connection, to report a lost upstream. */
  control: FrameConn;
  /** How long the upstream may stay silent, and how long to wait for a repair. */
  timeoutMs: number;
  /** The node's events (orphaned, relinked). */
  onEvent?: (event: JoinEvent) => void;
  /** Called after every frame relayed (the node heartbeats from there). */
  onFrame: () => void;
  /** What its children hold, or null without children. */
  childrenHeld: () => number | null;
  /** Why the node stops, once it must: a lost link is then no longer repaired. */
  abortReason: () => KadError | null;
  /** Bytes it holds already (a copy taken up after a restart): the stream resumes there. */
  startAt: number;
}

/** One node's upstream, across the relinks repairs bring. */
export class UpstreamFeed {
  readonly #options: UpstreamFeedOptions;
  readonly #acceptor: UpstreamAcceptor;
  readonly #counter: ByteCounter = { bytes: 0 };
  #upstream: FrameConn | null = null;
  #acked = { held: -1, need: -1 };
  #startedAt = 0;
  #repairs = 0;

  /** Starts accepting the upstream's link on `listener`. */
  constructor(listener: Deno.Listener, options: UpstreamFeedOptions) {
    this.#options = options;
    this.#counter.bytes = options.startAt;
    this.#acceptor = new UpstreamAcceptor(listener, {
      ...options,
      parkMs: Math.min(options.timeoutMs, PARK_MS),
      // a newer link from the upstream means it gave up on the one in use
      onLink: () => this.#upstream?.close(),
    });
  }

  /** Stream bytes received so far. */
  get bytes(): number {
    return this.#counter.bytes;
  }

  /** Seconds from the first byte to now (or 0 before it). */
  get seconds(): number {
    return this.#startedAt > 0 ? (performance.now() - this.#startedAt) / 1000 : 0;
  }

  /** Times a repair relinked this node. */
  get repairs(): number {
    return this.#repairs;
  }

  /** The first link from the planned upstream. */
  first(): Promise<FrameConn> {
    return this.#acceptor.take(this.#options.timeoutMs);
  }

  /** From now on the stream comes from `upstream`, over a link with `key` (NEW_UPSTREAM). */
  expect(upstream: string, key: Uint8Array | null): void {
    this.#acceptor.expect(upstream, key);
    // the server gave up on the current upstream (hung, cut off): stop reading from it
    if (this.#upstream && this.#upstream.peer !== upstream) this.#upstream.close();
  }

  /** Stops reading from the upstream (the node is out). */
  cut(): void {
    this.#upstream?.close();
  }

  /** Stops accepting links. */
  async close(): Promise<void> {
    await this.#acceptor.close();
  }

  /** Relays frames from `upstream` to the end of the stream, across the relinks repairs bring. */
  async relay(
    upstream: FrameConn,
    fanOut: FanOut,
    integrity: StreamHasher | StreamSeal,
  ): Promise<EndMessage> {
    for (;;) {
      this.#upstream = upstream;
      this.#acked = { held: -1, need: -1 }; // a new link hears from this node at once
      upstream.idleTimeoutMs = this.#options.timeoutMs;
      await upstream.send(FrameType.LINK_OK, { offset: this.#counter.bytes });
      if (this.#startedAt === 0) this.#startedAt = performance.now();
      try {
        const end = await relayFrames(upstream, fanOut, integrity, this.#counter, this.#afterFrame);
        upstream.close(); // at once: the upstream lingers until this node closes the link
        return end;
      } catch (error) {
        upstream.close();
        if (this.#options.abortReason() || !isLinkLoss(error)) throw error;
        upstream = await this.#awaitNewUpstream(upstream.peer, error as KadError);
      }
    }
  }

  /**
   * Tells the upstream what this node and its children hold (ACK), once either moved by
   * {@link ACK_STEP_BYTES}: the upstream keeps what they may need if this node fails.
   */
  acknowledge(): void {
    const upstream = this.#upstream;
    if (upstream === null || upstream.closed) return;
    const held = this.#counter.bytes;
    const children = this.#options.childrenHeld();
    const need = children === null ? held : Math.min(held, children);
    if (held - this.#acked.held < ACK_STEP_BYTES && need - this.#acked.need < ACK_STEP_BYTES) return;
    this.#acked = { held, need };
    upstream.send(FrameType.ACK, { held, need }).catch(() => {});
  }

  /** After every relayed frame: the node's heartbeat, and an acknowledgement when due. */
  readonly #afterFrame = (): void => {
    this.#options.onFrame();
    this.acknowledge();
  };

  /** The upstream link broke: tell the server what this node holds and wait for the repair. */
  async #awaitNewUpstream(lost: string, error: KadError): Promise<FrameConn> {
    const { control, onEvent, timeoutMs } = this.#options;
    const offset = this.#counter.bytes;
    const body = { code: error.code, message: error.message, upstream: lost, offset };
    await control.send(FrameType.UPSTREAM_LOST, body).catch(() => {});
    onEvent?.({ type: "orphaned", upstream: lost, bytes: offset, reason: wireError(error, "NRF") });
    let upstream: FrameConn;
    try {
      upstream = await this.#acceptor.take(timeoutMs);
    } catch (waitError) {
      const reason = this.#options.abortReason();
      if (reason) throw reason;
      const why = describeError(waitError);
      throw new KadError(
        "NRF",
        `Lost upstream ${lost} at ${offset} bytes (${error.message}) and no repair came: ${why}`,
      );
    }
    this.#repairs++;
    log.debug("Relinked: {upstream} feeds this node from {offset}", { upstream: upstream.peer, offset });
    onEvent?.({ type: "relinked", upstream: upstream.peer, bytes: offset });
    return upstream;
  }
}

/** A broken or silent upstream link, which a repair can replace (not a refusal, abort or garbage). */
function isLinkLoss(error: unknown): boolean {
  if (error instanceof AbortReceivedError || !(error instanceof KadError)) return false;
  return error.code === "NRF" || error.code === "TIMEOUT";
}
