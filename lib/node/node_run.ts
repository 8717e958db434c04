/**
 * One node's part of a planned deployment: links to its upstream and children, writes the stream
 * to its sink while relaying it, follows the server's repairs, verifies, reports, and runs the
 * post-install step.
 *
 * @module
 */

import { AbortReceivedError, AuthError, describeError, type ErrorCode, KadError } from "../errors.ts";
import { createStreamHasher, parseHashAlgorithm } from "../integrity/stream_hash.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { cpuSeconds, peakRssBytes } from "../process/resource_usage.ts";
import { FrameType } from "../protocol/frame.ts";
import type {
  EndMessage,
  LinkPeer,
  LinkProblem,
  PlanMessage,
  ReportMessage,
  WireError,
} from "../protocol/messages.ts";
import { type ChildLink, connectChild, type LinkSecurity } from "../relay/data_link.ts";
import { Downstream } from "../relay/downstream.ts";
import { FanOut, type FanOutput, NotRetainedError, relayFanOutOptions } from "../relay/fan_out.ts";
import { UpstreamAcceptor } from "../relay/upstream_acceptor.ts";
import { type ByteCounter, relayFrames } from "../relay/stream_pump.ts";
import { linkKeyContext } from "../security/handshake.ts";
import { openKey } from "../security/sealed_key.ts";
import { openSink } from "../sink/open_sink.ts";
import type { Sink } from "../sink/sink.ts";
import { POST_INSTALL_PHASE } from "../report/phase.ts";
import { type PostInstallSpec, runPostInstall } from "./post_install.ts";
import type { JoinResult, ResolvedJoinOptions } from "./join.ts";
import { logger } from "../log.ts";

const log = logger("node");
const PROGRESS_INTERVAL_MS = 1000;
/** A node acknowledges to its upstream each time what it (or a child) holds moved this far. */
const ACK_STEP_BYTES = 1 << 20;

/** One node's part of a planned deployment. */
export class NodeRun {
  readonly #options: ResolvedJoinOptions;
  readonly #control: FrameConn;
  readonly #plan: PlanMessage;
  /** Opens the link keys the server sends this node; null on an `--insecure` deployment. */
  readonly #sealKey: Uint8Array | null;
  readonly #acceptor: UpstreamAcceptor;
  readonly #counter: ByteCounter = { bytes: 0 };
  readonly #links: LinkProblem[] = [];
  readonly #adoptions = new Set<Promise<void>>();
  #upstream: FrameConn | null = null;
  #fanOut: FanOut | null = null;
  #downstream: Downstream | null = null;
  #fedReady!: (ready: boolean) => void;
  /** Resolves once the fan-out feeds children (true), or the node gave up before (false). */
  readonly #fed = new Promise<boolean>((resolve) => this.#fedReady = resolve);
  /** False once the node is about to report: later adoptions are refused. */
  #adopting = true;
  #sink: Sink | null = null;
  #sinkError: WireError | null = null;
  /** First fatal reason: set by an abort from the server, the operator, or the stream. */
  #abortReason: KadError | null = null;
  #startedAt = 0;
  /** When END arrived (performance.now()): the moment every node shares, give or take a hop. */
  #endedAt = 0;
  #repairs = 0;
  /** Fired by the server's ABORT or ERROR: stops the post-install step too. */
  readonly #halt = new AbortController();

  constructor(
    options: ResolvedJoinOptions,
    control: FrameConn,
    listener: Deno.Listener,
    plan: PlanMessage,
    sealKey: Uint8Array | null,
  ) {
    this.#options = options;
    this.#control = control;
    this.#plan = plan;
    this.#sealKey = sealKey;
    this.#acceptor = new UpstreamAcceptor(listener, {
      deployment: plan.deployment,
      self: options.name,
      upstream: plan.upstream,
      upstreamKey: this.#linkKey(plan.upstreamKey, plan.upstream, options.name),
      handshakeTimeoutMs: this.#connectTimeoutMs,
      parkMs: Math.min(options.timeoutMs, PARK_MS),
      // a newer link from the upstream means it gave up on the one in use
      onLink: () => this.#upstream?.close(),
    });
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

  get #connectTimeoutMs(): number {
    return this.#options.connectTimeoutMs;
  }

  /** How this node opens links to its children. */
  get #linkSecurity(): LinkSecurity {
    const tls = this.#options.tls ?? null;
    return { timeoutMs: this.#connectTimeoutMs, tls: tls && { ca: tls.ca } };
  }

  async run(): Promise<JoinResult> {
    const onAbort = () => this.#abort(new KadError("ABORT", "Interrupted by the operator"));
    this.#options.signal?.addEventListener("abort", onAbort, { once: true });
    const controlLoop = this.#watchControl();
    const progress = setInterval(this.#heartbeat, PROGRESS_INTERVAL_MS);
    let error: WireError | null = null;
    let hash = "";
    try {
      ({ error, hash } = await this.#receive());
    } finally {
      clearInterval(progress);
      this.#options.signal?.removeEventListener("abort", onAbort);
      await this.#acceptor.close();
    }
    const seconds = this.#startedAt > 0 ? (performance.now() - this.#startedAt) / 1000 : 0;
    const report: ReportMessage = {
      status: error === null ? "ok" : "failed",
      error,
      bytes: this.#counter.bytes,
      hash,
      seconds,
      links: this.#links,
      rssBytes: peakRssBytes(),
      cpuSeconds: cpuSeconds(),
    };
    await this.#control.send(FrameType.REPORT, report).catch(() => {});
    if (report.status === "ok" && this.#options.postInstall) {
      error = await this.#postInstall(this.#options.postInstall, report);
    }
    this.#control.close();
    await controlLoop;
    return {
      name: this.#options.name,
      position: this.#plan.position,
      status: error === null ? "ok" : "failed",
      error,
      bytes: report.bytes,
      hash,
      seconds,
      repairs: this.#repairs,
    };
  }

  /**
   * Runs the post-install step with the server kept informed: its phases as they come, a heartbeat
   * while it runs, and a last phase saying how it ended. Returns why it failed, or null.
   */
  async #postInstall(spec: PostInstallSpec, report: ReportMessage): Promise<WireError | null> {
    const tell = (phase: string, ok: boolean, detail: string, end: boolean) =>
      this.#control.send(FrameType.PHASE, { phase, ok, detail, end }).catch(() => {});
    const heartbeat = setInterval(() => this.#control.send(FrameType.PING, {}).catch(() => {}), 1000);
    const signal = this.#options.signal
      ? AbortSignal.any([this.#options.signal, this.#halt.signal])
      : this.#halt.signal;
    const startedAt = performance.now();
    this.#options.onEvent?.({ type: "post-install", command: spec.command });
    try {
      const error = await runPostInstall(spec, {
        env: {
          KAD_NODE: this.#options.name,
          KAD_POSITION: String(this.#plan.position),
          KAD_COUNT: String(this.#plan.nodeCount),
          KAD_SERVER: `${this.#options.server.host}:${this.#options.server.port}`,
          KAD_DEPLOYMENT: this.#plan.deployment,
          KAD_BYTES: String(report.bytes),
          // seconds since the stream ended: a start all nodes share, e.g. to take turns rebooting
          KAD_STREAM_ENDED_AGO: ((performance.now() - this.#endedAt) / 1000).toFixed(3),
        },
        signal,
        onPhase: (note) => void tell(note.phase, true, note.detail, false),
        onOutput: (line) => this.#options.onEvent?.({ type: "post-install-output", line }),
      });
      const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
      await tell(
        POST_INSTALL_PHASE,
        error === null,
        error === null
          ? `finished in ${seconds} s`
          : error.code === "POST"
          ? error.message
          : `${error.code}: ${error.message}`,
        true,
      );
      return error;
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Links up, relays and verifies; returns the node's own verdict. */
  async #receive(): Promise<{ error: WireError | null; hash: string }> {
    const plan = this.#plan;
    const options = this.#options;
    const hasher = await createStreamHasher(parseHashAlgorithm(plan.hashAlgorithm));
    let fanOut: FanOut | null = null;
    const planned: ChildLink[] = [];
    try {
      const firstUpstream = this.#acceptor.take(options.timeoutMs);
      firstUpstream.catch(() => {});
      const downstreamOptions = {
        deployment: plan.deployment,
        self: options.name,
        security: this.#linkSecurity,
        onLinkProblem: (child: string, error: WireError) => this.#linkProblem(child, error),
        onAck: () => this.#acknowledge(),
      };
      await Promise.all(plan.children.map(async (child) => {
        try {
          planned.push(
            await connectChild(
              child,
              { deployment: plan.deployment, from: options.name, to: child.name },
              this.#linkKey(child.key, options.name, child.name),
              this.#linkSecurity,
            ),
          );
        } catch (error) {
          this.#linkProblem(child.name, wireError(error, "NNF"));
        }
      }));
      log.debug("Linked to {children} of {planned} children", {
        children: planned.map((l) => l.conn.peer).join(" ") || "none",
        planned: plan.children.length,
      });
      let upstream = await firstUpstream;
      if (this.#abortReason) throw this.#abortReason;
      log.debug("Upstream {upstream} linked; opening {sink}", {
        upstream: upstream.peer,
        sink: options.sink.kind,
      });
      this.#sink = await openSink(options.sink);
      const sinkOutput = this.#sinkOutput(this.#sink);
      fanOut = this.#fanOut = new FanOut([sinkOutput], {
        ...relayFanOutOptions(options, options.timeoutMs, this.#sealKey !== null),
        onOutputError: (output, error) => {
          // by identity: a child may well be named "sink"
          if (output === sinkOutput) this.#sinkFailed(wireError(error, "LWF"));
          else this.#linkProblem(output.name, wireError(error, "NWF"));
        },
      });
      const downstream = this.#downstream = new Downstream(fanOut, downstreamOptions);
      for (const link of planned.splice(0)) downstream.attach(link);
      this.#fedReady(true);
      let end: EndMessage;
      for (;;) {
        this.#upstream = upstream;
        this.#acked = { held: -1, need: -1 }; // a new link hears from this node at once
        upstream.idleTimeoutMs = options.timeoutMs;
        await upstream.send(FrameType.LINK_OK, { offset: this.#counter.bytes });
        if (this.#startedAt === 0) this.#startedAt = performance.now();
        try {
          end = await relayFrames(upstream, fanOut, hasher, this.#counter, this.#afterFrame);
          break;
        } catch (error) {
          upstream.close();
          if (this.#abortReason || !isLinkLoss(error)) throw error;
          upstream = await this.#awaitNewUpstream(upstream.peer, error as KadError);
        }
      }
      this.#endedAt = performance.now();
      await fanOut.finish(options.timeoutMs);
      const ended = downstream.end({ type: FrameType.END, body: end, offset: this.#counter.bytes });
      const hash = hasher.digest();
      await this.#finishSink();
      const verdict = this.#sinkError ?? verify(this.#counter.bytes, hash, end);
      if (verdict === null) await this.#sink.commit();
      else await this.#sink.abort();
      await this.#endAdoptions();
      await ended;
      await downstream.settled(); // children adopted while the stream ended
      return { error: verdict, hash };
    } catch (caught) {
      this.#fedReady(false);
      const reason = this.#abortReason ?? caught;
      const error = wireError(reason, "NRF");
      await this.#sink?.abort();
      if (fanOut) await fanOut.finish(options.timeoutMs);
      const passedOn = reason instanceof AbortReceivedError;
      await this.#endAdoptions();
      if (passedOn || error.code === "ABORT") {
        // the whole deployment stops: say so down the tree
        const body = {
          code: error.code,
          message: passedOn ? error.message : `Upstream ${options.name} failed: ${error.message}`,
        };
        for (const link of planned) await link.conn.send(FrameType.ABORT, body).catch(() => {});
        await this.#downstream?.end({ type: FrameType.ABORT, body, offset: 0 });
      } else {
        // only this node is out: its children lose their upstream and the server repairs around it
        this.#downstream?.closeAll();
      }
      return { error, hash: "" };
    } finally {
      this.#adopting = false;
      fanOut?.close();
      this.#upstream?.close();
      for (const link of planned) link.conn.close();
      this.#downstream?.closeAll();
    }
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
    this.#options.onEvent?.({ type: "orphaned", upstream: lost, bytes: offset });
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

  /** No more adoptions; waits for those under way. */
  async #endAdoptions(): Promise<void> {
    this.#adopting = false;
    while (this.#adoptions.size > 0) await Promise.all(this.#adoptions);
  }

  /** The server's repair: stop feeding `drop`, feed each of `adopt` from what it holds. */
  #repair(drop: string, reason: WireError, adopt: LinkPeer[]): void {
    log.debug("Dropping {drop} ({code}); adopting {adopt}", {
      drop,
      code: reason.code,
      adopt: adopt.map((c) => c.name).join(" ") || "nobody",
    });
    this.#fanOut?.failOutput(drop, new KadError(reason.code, reason.message, { node: drop }));
    const adoption = Promise.all(adopt.map((child) => this.#adopt(child))).then(() => {
      this.#fanOut?.release(drop);
    });
    this.#adoptions.add(adoption);
    adoption.finally(() => this.#adoptions.delete(adoption));
  }

  async #adopt(child: LinkPeer): Promise<void> {
    const failed = (offset: number, error: WireError) =>
      this.#control.send(FrameType.ADOPT_FAILED, { ...error, child: child.name, offset }).catch(() => {});
    if (!this.#adopting || !await this.#fed || !this.#adopting) {
      return await failed(0, { code: "NNF", message: `${this.#options.name} has finished its stream` });
    }
    try {
      const key = this.#linkKey(child.key, this.#options.name, child.name);
      const adopted = await this.#downstream!.adopt(child, key);
      await this.#control.send(FrameType.ADOPTED, adopted).catch(() => {});
    } catch (error) {
      await failed(error instanceof NotRetainedError ? error.offset : 0, wireError(error, "NNF"));
    }
  }

  #sinkOutput(sink: Sink): FanOutput {
    return {
      name: `sink (${sink.description})`,
      view: "payload",
      write: (bytes) => sink.write(bytes),
      abort: () => void sink.abort(),
    };
  }

  #sinkFailed(error: WireError): void {
    this.#sinkError ??= error;
    if (this.#options.abortOnSinkError) {
      this.#abort(new KadError(error.code, `${error.message} (--abort-on-sink-error)`));
    }
  }

  #linkProblem(child: string, error: WireError): void {
    log.debug("Link to {child}: {code}: {message}", { child, ...error });
    if (!this.#links.some((l) => l.to === child && l.error.code === error.code)) {
      this.#links.push({ to: child, error });
    }
  }

  async #finishSink(): Promise<void> {
    try {
      await this.#sink!.finish();
    } catch (error) {
      // a failed write already carries the exit status; otherwise the exit status is the reason
      this.#sinkError ??= wireError(error, "LWF");
    }
  }

  #abort(reason: KadError): void {
    this.#abortReason ??= reason;
    this.#upstream?.close();
    void this.#acceptor.close();
  }

  async #watchControl(): Promise<void> {
    try {
      for (;;) {
        const message = await this.#control.readMessage();
        if (message === null) break;
        switch (message.type) {
          case FrameType.DROP:
            this.#repair(message.body.node, message.body, message.body.adopt);
            continue;
          case FrameType.NEW_UPSTREAM:
            this.#acceptor.expect(
              message.body.upstream,
              this.#linkKey(message.body.key, message.body.upstream, this.#options.name),
            );
            // the server gave up on the current upstream (hung, cut off): stop reading from it
            if (this.#upstream && this.#upstream.peer !== message.body.upstream) this.#upstream.close();
            continue;
          case FrameType.ABORT:
          case FrameType.ERROR:
            this.#abort(new AbortReceivedError(message.body.code, message.body.message));
            this.#halt.abort();
            return;
        }
      }
    } catch {
      // fall through
    }
    if (!this.#control.closed) {
      this.#abort(new KadError("NRF", `Lost the control connection to ${this.#control.peer}`));
    }
  }

  /**
   * Tells the server how far this node is, at most once per {@link PROGRESS_INTERVAL_MS}: from a
   * timer, and from the relay loop after every frame (timers come late on a starved machine).
   */
  readonly #heartbeat = (): void => {
    const now = performance.now();
    if (now - this.#lastProgressAt < PROGRESS_INTERVAL_MS * 0.9) return;
    this.#lastProgressAt = now;
    this.#sendProgress();
    this.#acknowledge();
  };
  #lastProgressAt = 0;

  /** After every relayed frame: heartbeat and acknowledge, each when due. */
  readonly #afterFrame = (): void => {
    this.#heartbeat();
    this.#acknowledge();
  };

  /**
   * Tells the upstream what this node and its children hold (ACK), once either moved by
   * {@link ACK_STEP_BYTES}: the upstream keeps what they may need if this node fails.
   */
  #acknowledge(): void {
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

  #sendProgress(): void {
    this.#control.send(FrameType.PROGRESS, { bytes: this.#counter.bytes }).catch(() => {});
    this.#options.onEvent?.({
      type: "progress",
      bytes: this.#counter.bytes,
      streamBytes: this.#plan.streamBytes,
    });
  }
}

/** How long a link from a node the server has not named yet may wait for the server's word. */
const PARK_MS = 5000;

/** A broken or silent upstream link, which a repair can replace (not a refusal, abort or garbage). */
function isLinkLoss(error: unknown): boolean {
  if (error instanceof AbortReceivedError || !(error instanceof KadError)) return false;
  return error.code === "NRF" || error.code === "TIMEOUT";
}

function verify(bytes: number, hash: string, end: { bytes: number; hash: string }): WireError | null {
  if (bytes !== end.bytes) {
    return { code: "BBC", message: `Received ${bytes} bytes, the source sent ${end.bytes}` };
  }
  if (hash !== end.hash) {
    return { code: "HASH", message: "Hash of the received stream differs from the source's" };
  }
  return null;
}

/** A thrown value as a wire error, with `fallback` as code when it carries none. */
export function wireError(error: unknown, fallback: ErrorCode): WireError {
  const code = error instanceof KadError ? error.code : fallback;
  return { code, message: describeError(error) };
}
