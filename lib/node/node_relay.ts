/**
 * A node's place in the stream: the link from its upstream (and the new ones repairs bring), its
 * sink, and its fan-out to its children and to the children it adopts. It relays every frame to
 * both, acknowledges to its upstream what it and its children hold, verifies the count and hash at
 * the end, then commits or aborts its sink.
 *
 * @module
 */

import { AbortReceivedError, AuthError, describeError, KadError } from "../errors.ts";
import { createStreamHasher, parseHashAlgorithm, type StreamHasher } from "../integrity/stream_hash.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import {
  type EndMessage,
  type LinkPeer,
  type LinkProblem,
  type PlanMessage,
  type WireError,
  wireError,
} from "../protocol/messages.ts";
import { type ChildLink, connectChild, type LinkSecurity } from "../relay/data_link.ts";
import { Downstream } from "../relay/downstream.ts";
import { FanOut, type FanOutOptions, relayFanOut } from "../relay/fan_out.ts";
import { UpstreamAcceptor } from "../relay/upstream_acceptor.ts";
import { type ByteCounter, relayFrames } from "../relay/stream_pump.ts";
import { linkKeyContext, streamKeyContext } from "../security/handshake.ts";
import type { StreamSeal } from "../security/stream_seal.ts";
import { openKey } from "../security/sealed_key.ts";
import { NodeSink } from "./node_sink.ts";
import { verdictOf } from "./stream_verdict.ts";
import { Adopter } from "./adopter.ts";
import type { NodeOptions } from "./join.ts";
import { logger } from "../log.ts";

const log = logger("node");
/** A node acknowledges to its upstream each time what it (or a child) holds moved this far. */
const ACK_STEP_BYTES = 1 << 20;

/** What a node's relay did, for its report. */
export interface RelayOutcome {
  /** Why it failed, or null for a verified copy. */
  error: WireError | null;
  /** Hash of what it received ("" when it failed). */
  hash: string;
}

/** One node's relay for one deployment. */
export class NodeRelay {
  readonly #options: NodeOptions;
  readonly #control: FrameConn;
  readonly #plan: PlanMessage;
  /** Opens the link keys the server sends this node; null on an `--insecure` deployment. */
  readonly #sealKey: Uint8Array | null;
  readonly #acceptor: UpstreamAcceptor;
  readonly #counter: ByteCounter = { bytes: 0 };
  /** Problems feeding children, for the report. */
  readonly links: LinkProblem[] = [];
  readonly #adopter: Adopter;
  /** Links to the planned children, until the fan-out takes them. */
  readonly #planned: ChildLink[] = [];
  #upstream: FrameConn | null = null;
  #fanOut: FanOut | null = null;
  #downstream: Downstream | null = null;
  #sink: NodeSink | null = null;
  /** First fatal reason: set by an abort from the server, the operator, or the stream. */
  #abortReason: KadError | null = null;
  #startedAt = 0;
  #endedAt = 0;
  #repairs = 0;
  /** The fan-out's options: ring geometry, timeouts, and on a sealed stream its arena and trailers. */
  readonly #fanOutOptions: FanOutOptions;
  /** Checks the DATA frames' seals; null on an `--insecure` deployment. */
  readonly #seal: StreamSeal | null;
  /** Called after every frame relayed (the node heartbeats from there). */
  readonly #onFrame: () => void;

  /** Starts accepting the upstream's link on `listener`. */
  constructor(
    options: NodeOptions,
    control: FrameConn,
    listener: Deno.Listener,
    plan: PlanMessage,
    sealKey: Uint8Array | null,
    onFrame: () => void,
  ) {
    this.#options = options;
    this.#control = control;
    this.#plan = plan;
    this.#sealKey = sealKey;
    this.#onFrame = onFrame;
    // the stream key comes sealed in the plan: the ring lives in the seal's memory, checked in place
    const streamKey = sealKey === null ? null : this.#streamKey(plan);
    const sealing = streamKey && { key: streamKey, source: false };
    ({ options: this.#fanOutOptions, seal: this.#seal } = relayFanOut(options, options.timeoutMs, sealing));
    this.#adopter = new Adopter({
      self: options.name,
      control,
      linkKey: (child) => this.#linkKey(child.key, options.name, child.name),
    });
    this.#acceptor = new UpstreamAcceptor(listener, {
      deployment: plan.deployment,
      self: options.name,
      upstream: plan.upstream,
      upstreamKey: this.#linkKey(plan.upstreamKey, plan.upstream, options.name),
      handshakeTimeoutMs: options.connectTimeoutMs,
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

  /** When END arrived (performance.now(); 0 before): the moment every node shares, give or take a hop. */
  get endedAt(): number {
    return this.#endedAt;
  }

  /** Times a repair relinked this node. */
  get repairs(): number {
    return this.#repairs;
  }

  /** Stops: the server's ABORT or ERROR, the operator, a lost control connection. */
  abort(reason: KadError): void {
    this.#abortReason ??= reason;
    this.#upstream?.close();
    void this.#acceptor.close();
  }

  /** The server's repair (DROP): stop feeding `drop`, feed each of `adopt` from what it holds. */
  repair(drop: string, reason: WireError, adopt: LinkPeer[]): void {
    this.#adopter.repair(drop, reason, adopt);
  }

  /** Stops accepting links. */
  async close(): Promise<void> {
    await this.#acceptor.close();
  }

  /** From now on the stream comes from `upstream`, over a link with `sealedKey` (NEW_UPSTREAM). */
  expectUpstream(upstream: string, sealedKey: string): void {
    this.#acceptor.expect(upstream, this.#linkKey(sealedKey, upstream, this.#options.name));
    // the server gave up on the current upstream (hung, cut off): stop reading from it
    if (this.#upstream && this.#upstream.peer !== upstream) this.#upstream.close();
  }

  /**
   * The key of the link `from` → `to`, opened from what the server sealed for this node; null on
   * an `--insecure` deployment.
   * @throws {AuthError} when the key is missing or was not sealed for this node and link.
   */
  #linkKey(sealed: string, from: string, to: string): Uint8Array | null {
    if (this.#sealKey === null) return null;
    if (sealed === "") throw new AuthError(`The server sent no key for the link ${from}→${to}`);
    return openKey(this.#sealKey, sealed, linkKeyContext({ deployment: this.#plan.deployment, from, to }));
  }

  /**
   * The deployment's stream key, opened from what the server sealed for this node.
   * @throws {AuthError} when it is missing or was not sealed for this node.
   */
  #streamKey(plan: PlanMessage): Uint8Array {
    if (plan.streamKey === "") throw new AuthError("The server sent no stream key");
    return openKey(this.#sealKey!, plan.streamKey, streamKeyContext(plan.deployment));
  }

  /** How this node opens links to its children. */
  get #linkSecurity(): LinkSecurity {
    const tls = this.#options.tls ?? null;
    return { timeoutMs: this.#options.connectTimeoutMs, tls: tls && { ca: tls.ca } };
  }

  /** Links up, relays and verifies; returns the node's own verdict. */
  async receive(): Promise<RelayOutcome> {
    // a sealed stream is vouched for by its seals, an unsealed one by a hash of every byte
    const integrity = this.#seal ?? await createStreamHasher(parseHashAlgorithm(this.#plan.hashAlgorithm));
    try {
      const firstUpstream = this.#acceptor.take(this.#options.timeoutMs);
      firstUpstream.catch(() => {});
      await this.#linkChildren();
      const upstream = await firstUpstream;
      if (this.#abortReason) throw this.#abortReason;
      log.debug("Upstream {upstream} linked; opening {sink}", {
        upstream: upstream.peer,
        sink: this.#options.sink.kind,
      });
      const { fanOut, downstream } = await this.#startFanOut();
      const end = await this.#relay(upstream, fanOut, integrity);
      this.#endedAt = performance.now();
      await fanOut.finish(this.#options.timeoutMs);
      const ended = downstream.end({ type: FrameType.END, body: end, offset: this.#counter.bytes });
      const { hash, verdict: received } = verdictOf(this.#counter.bytes, integrity, end);
      const verdict = await this.#sink!.settle(received, end.rawBytes);
      await this.#adopter.close();
      await ended;
      await downstream.settled(); // children adopted while the stream ended
      return { error: verdict, hash };
    } catch (caught) {
      return { error: await this.#fail(caught), hash: "" };
    } finally {
      this.#fanOut?.close();
      this.#upstream?.close();
      for (const link of this.#planned) link.conn.close();
      this.#downstream?.closeAll();
    }
  }

  /** Opens the links to the planned children; a child that cannot be reached is a link problem. */
  async #linkChildren(): Promise<void> {
    const { deployment, children } = this.#plan;
    const self = this.#options.name;
    await Promise.all(children.map(async (child) => {
      try {
        const key = this.#linkKey(child.key, self, child.name);
        const context = { deployment, from: self, to: child.name };
        this.#planned.push(await connectChild(child, context, key, this.#linkSecurity));
      } catch (error) {
        this.#linkProblem(child.name, wireError(error, "NNF"));
      }
    }));
    log.debug("Linked to {children} of {planned} children", {
      children: this.#planned.map((l) => l.conn.peer).join(" ") || "none",
      planned: children.length,
    });
  }

  /** Opens the sink and the fan-out that feeds it and the children. */
  async #startFanOut(): Promise<{ fanOut: FanOut; downstream: Downstream }> {
    const options = this.#options;
    const leave = options.abortOnSinkError ? (error: KadError) => this.abort(error) : null;
    const sink = this.#sink = await NodeSink.open(options.sink, options.compression, leave);
    const sinkOutput = sink.output;
    const fanOut = this.#fanOut = new FanOut([sinkOutput], {
      ...this.#fanOutOptions,
      onOutputError: (output, error) => {
        // by identity: a child may well be named "sink"
        if (output === sinkOutput) sink.failed(wireError(error, "LWF"));
        else this.#linkProblem(output.name, wireError(error, "NWF"));
      },
    });
    const downstream = this.#downstream = new Downstream(fanOut, {
      deployment: this.#plan.deployment,
      self: options.name,
      security: this.#linkSecurity,
      sealed: this.#seal !== null,
      onLinkProblem: (child, error) => this.#linkProblem(child, error),
      onAck: () => this.acknowledge(),
    });
    for (const link of this.#planned.splice(0)) downstream.attach(link);
    this.#adopter.feeding(fanOut, downstream);
    return { fanOut, downstream };
  }

  /** Relays frames to the end of the stream, across the relinks repairs bring. */
  async #relay(
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
        if (this.#abortReason || !isLinkLoss(error)) throw error;
        upstream = await this.#awaitNewUpstream(upstream.peer, error as KadError);
      }
    }
  }

  /** The node is out: aborts the sink; an abort goes on down the tree, a failure leaves a repair. */
  async #fail(caught: unknown): Promise<WireError> {
    this.#adopter.failed();
    const reason = this.#abortReason ?? caught;
    const error = wireError(reason, "NRF");
    await this.#sink?.abort();
    await this.#fanOut?.finish(this.#options.timeoutMs);
    await this.#adopter.close();
    const passedOn = reason instanceof AbortReceivedError;
    if (passedOn || error.code === "ABORT") {
      // the whole deployment stops: say so down the tree
      const message = passedOn ? error.message : `Upstream ${this.#options.name} failed: ${error.message}`;
      const body = { code: error.code, message };
      for (const link of this.#planned) await link.conn.send(FrameType.ABORT, body).catch(() => {});
      await this.#downstream?.end({ type: FrameType.ABORT, body, offset: 0 });
    } else {
      // only this node is out: its children lose their upstream and the server repairs around it
      this.#downstream?.closeAll();
    }
    return error;
  }

  /** The upstream link broke: tell the server what this node holds and wait for the repair. */
  async #awaitNewUpstream(lost: string, error: KadError): Promise<FrameConn> {
    const offset = this.#counter.bytes;
    await this.#control.send(FrameType.UPSTREAM_LOST, {
      code: error.code,
      message: error.message,
      upstream: lost,
      offset,
    }).catch(() => {});
    this.#options.onEvent?.({
      type: "orphaned",
      upstream: lost,
      bytes: offset,
      reason: wireError(error, "NRF"),
    });
    let upstream: FrameConn;
    try {
      upstream = await this.#acceptor.take(this.#options.timeoutMs);
    } catch (waitError) {
      if (this.#abortReason) throw this.#abortReason;
      throw new KadError(
        "NRF",
        `Lost upstream ${lost} at ${offset} bytes (${error.message}) and no repair came: ${
          describeError(waitError)
        }`,
      );
    }
    this.#repairs++;
    log.debug("Relinked: {upstream} feeds this node from {offset}", { upstream: upstream.peer, offset });
    this.#options.onEvent?.({ type: "relinked", upstream: upstream.peer, bytes: offset });
    return upstream;
  }

  #linkProblem(child: string, error: WireError): void {
    log.debug("Link to {child}: {code}: {message}", { child, ...error });
    if (!this.links.some((l) => l.to === child && l.error.code === error.code)) {
      this.links.push({ to: child, error });
    }
  }

  /** After every relayed frame: the node's heartbeat, and an acknowledgement when due. */
  readonly #afterFrame = (): void => {
    this.#onFrame();
    this.acknowledge();
  };

  /**
   * Tells the upstream what this node and its children hold (ACK), once either moved by
   * {@link ACK_STEP_BYTES}: the upstream keeps what they may need if this node fails.
   */
  acknowledge(): void {
    const upstream = this.#upstream;
    if (upstream === null || upstream.closed) return;
    const held = this.#counter.bytes;
    const children = this.#downstream?.childrenHeld ?? null;
    const need = children === null ? held : Math.min(held, children);
    if (held - this.#acked.held < ACK_STEP_BYTES && need - this.#acked.need < ACK_STEP_BYTES) return;
    this.#acked = { held, need };
    upstream.send(FrameType.ACK, { held, need }).catch(() => {});
  }
  #acked = { held: -1, need: -1 };
}

/** How long a link from a node the server has not named yet may wait for the server's word. */
const PARK_MS = 5000;

/** A broken or silent upstream link, which a repair can replace (not a refusal, abort or garbage). */
function isLinkLoss(error: unknown): boolean {
  if (error instanceof AbortReceivedError || !(error instanceof KadError)) return false;
  return error.code === "NRF" || error.code === "TIMEOUT";
}
