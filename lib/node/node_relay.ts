/**
 * A node's place in the stream: the link from its upstream (and the new ones repairs bring), its
 * sink, and its fan-out to its children and to the children it adopts. It relays every frame to
 * both, acknowledges to its upstream what it and its children hold, verifies the count and hash at
 * the end, then commits or aborts its sink.
 *
 * @module
 */

import { AbortReceivedError, type KadError } from "../errors.ts";
import { createStreamHasher, parseHashAlgorithm } from "../integrity/stream_hash.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import {
  type Blocked,
  type LinkPeer,
  type LinkProblem,
  type PlanMessage,
  type WireError,
  wireError,
} from "../protocol/messages.ts";
import { type ChildLink, connectChild, type LinkSecurity } from "../relay/data_link.ts";
import { Downstream } from "../relay/downstream.ts";
import { FanOut, type FanOutOptions, relayFanOut } from "../relay/fan_out.ts";
import type { StreamSeal } from "../security/stream_seal.ts";
import { NodeSink } from "./node_sink.ts";
import { takeUpKeptCopy } from "./kept_copy.ts";
import type { FileResume } from "../sink/file_sink.ts";
import { partialPathOf } from "../sink/resume_record.ts";
import { verdictOf } from "./stream_verdict.ts";
import { Adopter } from "./adopter.ts";
import type { NodeOptions } from "./join.ts";
import { NodeKeys } from "./node_keys.ts";
import { UpstreamFeed } from "./upstream_feed.ts";
import { logger } from "../log.ts";

const log = logger("node");

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
  readonly #plan: PlanMessage;
  readonly #keys: NodeKeys;
  readonly #upstream: UpstreamFeed;
  /** Problems feeding children, for the report. */
  readonly links: LinkProblem[] = [];
  readonly #adopter: Adopter;
  /** Links to the planned children, until the fan-out takes them. */
  readonly #planned: ChildLink[] = [];
  #fanOut: FanOut | null = null;
  #downstream: Downstream | null = null;
  #sink: NodeSink | null = null;
  /** First fatal reason: set by an abort from the server, the operator, or the stream. */
  #abortReason: KadError | null = null;
  #endedAt = 0;
  /** The fan-out's options: ring geometry, timeouts, and on a sealed stream its arena and trailers. */
  readonly #fanOutOptions: FanOutOptions;
  /** Checks the DATA frames' seals; null on an `--insecure` deployment. */
  readonly #seal: StreamSeal | null;

  /**
   * Starts accepting the upstream's link on `listener`. `sealKey` opens the keys the server sends
   * this node (null on an `--insecure` deployment); `onFrame` runs after every frame relayed.
   */
  constructor(
    options: NodeOptions,
    control: FrameConn,
    listener: Deno.Listener,
    plan: PlanMessage,
    sealKey: Uint8Array | null,
    onFrame: () => void,
  ) {
    this.#options = options;
    this.#plan = plan;
    const keys = this.#keys = new NodeKeys(sealKey, plan.deployment);
    // the stream key comes sealed in the plan: the ring lives in the seal's memory, checked in place
    const streamKey = keys.stream(plan.streamKey);
    const sealing = streamKey && { key: streamKey, source: false };
    const { options: fanOut, seal } = relayFanOut(options, options.timeoutMs, sealing);
    this.#fanOutOptions = { ...fanOut, startOffset: options.resumeFrom };
    this.#seal = seal;
    this.#adopter = new Adopter({
      self: options.name,
      control,
      linkKey: (child) => keys.link(child.key, options.name, child.name),
    });
    this.#upstream = new UpstreamFeed(listener, {
      deployment: plan.deployment,
      self: options.name,
      upstream: plan.upstream,
      upstreamKey: keys.link(plan.upstreamKey, plan.upstream, options.name),
      handshakeTimeoutMs: options.connectTimeoutMs,
      control,
      timeoutMs: options.timeoutMs,
      onEvent: options.onEvent,
      onFrame,
      childrenHeld: () => this.#downstream?.childrenHeld ?? null,
      abortReason: () => this.#abortReason,
      startAt: options.resumeFrom,
    });
  }

  /** Stream bytes received so far. */
  get bytes(): number {
    return this.#upstream.bytes;
  }

  /** What held this node back most since the last call, and for what share of the time (PROGRESS). */
  takeBlocked(): Blocked | null {
    const blocked = this.#fanOut?.takeBlocked() ?? null;
    // the sink's output is named after what it runs: "sink" says enough
    return blocked && this.#sink && blocked.by === this.#sink.output.name
      ? { ...blocked, by: "sink" }
      : blocked;
  }

  /** Seconds from the first byte to now (or 0 before it). */
  get seconds(): number {
    return this.#upstream.seconds;
  }

  /** When END arrived (performance.now(); 0 before): the moment every node shares, give or take a hop. */
  get endedAt(): number {
    return this.#endedAt;
  }

  /** Times a repair relinked this node. */
  get repairs(): number {
    return this.#upstream.repairs;
  }

  /** Stops: the server's ABORT or ERROR, the operator, a lost control connection. */
  abort(reason: KadError): void {
    this.#abortReason ??= reason;
    this.#upstream.cut();
    void this.#upstream.close();
  }

  /** The server's repair (DROP): stop feeding `drop`, feed each of `adopt` from what it holds. */
  repair(drop: string, reason: WireError, adopt: LinkPeer[]): void {
    this.#adopter.repair(drop, reason, adopt);
  }

  /** Stops accepting links. */
  async close(): Promise<void> {
    await this.#upstream.close();
  }

  /** From now on the stream comes from `upstream`, over a link with `sealedKey` (NEW_UPSTREAM). */
  expectUpstream(upstream: string, sealedKey: string): void {
    this.#upstream.expect(upstream, this.#keys.link(sealedKey, upstream, this.#options.name));
  }

  /** Tells the upstream what this node and its children hold, when that moved enough (ACK). */
  acknowledge(): void {
    this.#upstream.acknowledge();
  }

  /** A file copy's record (kept beside it while it streams), and where this run takes it up. */
  get #fileResume(): FileResume | null {
    const { deployment, frameBytes } = this.#plan;
    if (this.#options.sink.kind !== "file" || frameBytes <= 0) return null;
    return { record: { deployment, name: this.#options.name, frameBytes }, from: this.#options.resumeFrom };
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
      const { resumeFrom, sink } = this.#options;
      if (resumeFrom > 0 && sink.kind === "file") {
        await takeUpKeptCopy(partialPathOf(sink.path), resumeFrom, this.#plan.frameBytes, integrity);
      }
      const firstUpstream = this.#upstream.first();
      firstUpstream.catch(() => {});
      await this.#linkChildren();
      const upstream = await firstUpstream;
      if (this.#abortReason) throw this.#abortReason;
      log.debug("Upstream {upstream} linked; opening {sink}", {
        upstream: upstream.peer,
        sink: this.#options.sink.kind,
      });
      const { fanOut, downstream } = await this.#startFanOut();
      const end = await this.#upstream.relay(upstream, fanOut, integrity);
      this.#endedAt = performance.now();
      await fanOut.finish(this.#options.timeoutMs);
      const bytes = this.#upstream.bytes;
      const ended = downstream.end({ type: FrameType.END, body: end, offset: bytes });
      const { hash, verdict: received } = verdictOf(bytes, integrity, end);
      const verdict = await this.#sink!.settle(received, end.rawBytes);
      await this.#adopter.close();
      await ended;
      await downstream.settled(); // children adopted while the stream ended
      return { error: verdict, hash };
    } catch (caught) {
      return { error: await this.#fail(caught), hash: "" };
    } finally {
      this.#fanOut?.close();
      this.#upstream.cut();
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
        const key = this.#keys.link(child.key, self, child.name);
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
    const sink = this.#sink = await NodeSink.open(options.sink, options.compression, leave, this.#fileResume);
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
      onAck: () => this.#upstream.acknowledge(),
    });
    for (const link of this.#planned.splice(0)) downstream.attach(link);
    this.#adopter.feeding(fanOut, downstream);
    return { fanOut, downstream };
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

  #linkProblem(child: string, error: WireError): void {
    log.debug("Link to {child}: {code}: {message}", { child, ...error });
    if (!this.links.some((l) => l.to === child && l.error.code === error.code)) {
      this.links.push({ to: child, error });
    }
  }
}
