/**
 * A node of a deployment (`kad join`): registers with the server, waits for its place in the
 * plan, links to its upstream and children, writes the stream to its local sink while relaying it,
 * verifies count and hash, and reports.
 *
 * @module
 */

import { AbortReceivedError, describeError, type ErrorCode, KadError } from "../errors.ts";
import { createStreamHasher, parseHashAlgorithm } from "../integrity/stream_hash.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { cpuSeconds, peakRssBytes } from "../process/resource_usage.ts";
import { listenOn } from "../net/listen.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import type { LinkProblem, PlanMessage, ReportMessage, WireError } from "../protocol/messages.ts";
import { acceptUpstream, connectChild, connectTo, linkOutput } from "../relay/data_link.ts";
import {
  DEFAULT_SLOT_BYTES,
  DEFAULT_SLOTS,
  FanOut,
  type FanOutput,
  STALL_SAFETY_FACTOR,
} from "../relay/fan_out.ts";
import { type ByteCounter, relayFrames } from "../relay/stream_pump.ts";
import { openSink, validateSink } from "../sink/open_sink.ts";
import type { Sink, SinkSpec } from "../sink/sink.ts";

/** Options of {@link join}. */
export interface JoinOptions {
  /** The server's control address. */
  server: { host: string; port: number };
  /** This node's name (unique in the deployment). */
  name: string;
  /** Where the stream goes. */
  sink: SinkSpec;
  /** Data listener address (port 0 picks a free port). */
  listen: { host: string; port: number };
  /** Host to advertise for the data port; empty lets the server use the address it sees. */
  advertise: string;
  /** Port to advertise when it differs from the listening one (port forwarding, a proxy); 0 = the same. */
  advertisePort?: number;
  /** Timeout in milliseconds of every wait on a peer. */
  timeoutMs: number;
  /** Ring slots (default 4). */
  slots?: number;
  /** Bytes per slot (default 256 KiB). */
  slotBytes?: number;
  /** Aborts the node (operator interrupt). */
  signal?: AbortSignal;
  /** Receives progress events. */
  onEvent?: (event: JoinEvent) => void;
}

/** What a node reports at the end. */
export interface JoinResult {
  /** Node name. */
  name: string;
  /** Position in the plan. */
  position: number;
  /** "ok" only for a verified copy. */
  status: "ok" | "failed";
  /** Why it failed. */
  error: WireError | null;
  /** Bytes received. */
  bytes: number;
  /** Hash of what was received. */
  hash: string;
  /** Seconds from the first byte to the sink's exit. */
  seconds: number;
}

/** Events a node emits while it runs. */
export type JoinEvent =
  | { type: "listening"; port: number }
  | { type: "joined"; deployment: string; joinIndex: number }
  | { type: "planned"; position: number; nodeCount: number; upstream: string; children: string[] }
  | { type: "progress"; bytes: number; streamBytes: number | null }
  | { type: "done"; result: JoinResult };

const PROGRESS_INTERVAL_MS = 1000;

/**
 * Joins a deployment and returns the node's verdict. Setup failures (server unreachable, refused,
 * version mismatch) throw a {@link KadError}; failures after the plan arrive are in the result.
 */
export async function join(options: JoinOptions): Promise<JoinResult> {
  await validateSink(options.sink);
  const listener = listenOn(options.listen, "data");
  const port = (listener.addr as Deno.NetAddr).port;
  options.onEvent?.({ type: "listening", port });
  let control: FrameConn | null = null;
  try {
    const serverName = `server ${options.server.host}:${options.server.port}`;
    control = new FrameConn(await connectTo(options.server, serverName, options.timeoutMs), {
      peer: serverName,
      idleTimeoutMs: options.timeoutMs,
    });
    await control.send(FrameType.HELLO, {
      version: PROTOCOL_VERSION,
      name: options.name,
      dataHost: options.advertise,
      dataPort: options.advertisePort || port,
      sink: options.sink.kind,
      features: [],
    });
    const accepted = await control.expect(FrameType.ACCEPT);
    options.onEvent?.({ type: "joined", deployment: accepted.deployment, joinIndex: accepted.joinIndex });
    const plan = await waitForPlan(control, options.signal);
    options.onEvent?.({
      type: "planned",
      position: plan.position,
      nodeCount: plan.nodeCount,
      upstream: plan.upstream,
      children: plan.children.map((c) => c.name),
    });
    const result = await new NodeRun(options, control, listener, plan).run();
    options.onEvent?.({ type: "done", result });
    return result;
  } finally {
    control?.close();
    try {
      listener.close();
    } catch {
      // closed by a timeout
    }
  }
}

async function waitForPlan(control: FrameConn, signal?: AbortSignal): Promise<PlanMessage> {
  const onAbort = () => control.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      let message;
      try {
        message = await control.readMessage();
      } catch (error) {
        if (signal?.aborted) {
          throw new KadError("ABORT", "Interrupted while waiting for the deployment to start");
        }
        throw error;
      }
      if (message === null) {
        if (signal?.aborted) {
          throw new KadError("ABORT", "Interrupted while waiting for the deployment to start");
        }
        throw new KadError("NRF", `${control.peer} closed the connection before the deployment started`);
      }
      switch (message.type) {
        case FrameType.PLAN:
          return message.body;
        case FrameType.PING:
          continue;
        case FrameType.ERROR:
        case FrameType.ABORT:
          throw new KadError(message.body.code, message.body.message);
        default:
          throw new KadError("PROTO", `Unexpected message from ${control.peer} before the plan`);
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}

/** One node's part of a planned deployment. */
class NodeRun {
  readonly #options: JoinOptions;
  readonly #control: FrameConn;
  readonly #listener: Deno.Listener;
  readonly #plan: PlanMessage;
  readonly #counter: ByteCounter = { bytes: 0 };
  readonly #links: LinkProblem[] = [];
  readonly #children: FrameConn[] = [];
  #upstream: FrameConn | null = null;
  #fanOut: FanOut | null = null;
  #sink: Sink | null = null;
  #sinkError: WireError | null = null;
  /** First fatal reason: set by an abort from the server, the operator, or the stream. */
  #abortReason: KadError | null = null;
  #startedAt = 0;

  constructor(options: JoinOptions, control: FrameConn, listener: Deno.Listener, plan: PlanMessage) {
    this.#options = options;
    this.#control = control;
    this.#listener = listener;
    this.#plan = plan;
  }

  async run(): Promise<JoinResult> {
    const onAbort = () => this.#abort(new KadError("ABORT", "Interrupted by the operator"));
    this.#options.signal?.addEventListener("abort", onAbort, { once: true });
    const controlLoop = this.#watchControl();
    const progress = setInterval(() => this.#sendProgress(), PROGRESS_INTERVAL_MS);
    let error: WireError | null = null;
    let hash = "";
    try {
      ({ error, hash } = await this.#receive());
    } finally {
      clearInterval(progress);
      this.#options.signal?.removeEventListener("abort", onAbort);
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
    this.#control.close();
    await controlLoop;
    return {
      name: this.#options.name,
      position: this.#plan.position,
      status: report.status,
      error,
      bytes: report.bytes,
      hash,
      seconds,
    };
  }

  /** Links up, relays and verifies; returns the node's own verdict. */
  async #receive(): Promise<{ error: WireError | null; hash: string }> {
    const plan = this.#plan;
    const options = this.#options;
    const hasher = await createStreamHasher(parseHashAlgorithm(plan.hashAlgorithm));
    let fanOut: FanOut | null = null; // also this.#fanOut, for DROP from the server
    try {
      const upstreamPromise = acceptUpstream(this.#listener, {
        deployment: plan.deployment,
        from: plan.upstream,
        to: options.name,
      }, options.timeoutMs);
      await Promise.all(plan.children.map(async (child) => {
        try {
          this.#children.push(
            await connectChild(
              child,
              { deployment: plan.deployment, from: options.name, to: child.name },
              options.timeoutMs,
            ),
          );
        } catch (error) {
          this.#links.push({ to: child.name, error: wireError(error, "NNF") });
        }
      }));
      this.#upstream = await upstreamPromise;
      if (this.#abortReason) throw this.#abortReason;
      this.#sink = await openSink(options.sink);
      const sinkOutput = this.#sinkOutput(this.#sink);
      const outputs: FanOutput[] = [sinkOutput, ...this.#children.map(linkOutput)];
      fanOut = this.#fanOut = new FanOut(outputs, {
        slots: options.slots ?? DEFAULT_SLOTS,
        slotBytes: options.slotBytes ?? DEFAULT_SLOT_BYTES,
        stallTimeoutMs: options.timeoutMs * STALL_SAFETY_FACTOR,
        onOutputError: (output, error) => {
          // by identity: a child may well be named "sink"
          if (output === sinkOutput) this.#sinkError ??= wireError(error, "LWF");
          else this.#links.push({ to: output.name, error: wireError(error, "NWF") });
        },
      });
      await this.#upstream.send(FrameType.LINK_OK, { offset: 0 });
      this.#startedAt = performance.now();
      const end = await relayFrames(this.#upstream, fanOut, hasher, this.#counter);
      await fanOut.finish(options.timeoutMs);
      await this.#endChildren(FrameType.END, end);
      const hash = hasher.digest();
      await this.#finishSink();
      const verdict = this.#sinkError ?? verify(this.#counter.bytes, hash, end);
      if (verdict === null) await this.#sink.commit();
      else await this.#sink.abort();
      return { error: verdict, hash };
    } catch (caught) {
      const reason = this.#abortReason ?? caught;
      const error = wireError(reason, "NRF");
      await this.#sink?.abort();
      if (fanOut) {
        await fanOut.finish(options.timeoutMs);
      }
      const passedOn = reason instanceof AbortReceivedError;
      await this.#endChildren(FrameType.ABORT, {
        code: error.code,
        message: passedOn ? error.message : `Upstream ${options.name} failed: ${error.message}`,
      });
      return { error, hash: "" };
    } finally {
      this.#upstream?.close();
      for (const child of this.#children) child.close();
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

  async #finishSink(): Promise<void> {
    try {
      await this.#sink!.finish();
    } catch (error) {
      // a failed write already carries the exit status; otherwise the exit status is the reason
      this.#sinkError ??= wireError(error, "LWF");
    }
  }

  async #endChildren(type: typeof FrameType.END | typeof FrameType.ABORT, body: unknown): Promise<void> {
    await Promise.all(this.#children.map(async (child) => {
      if (child.closed) return; // an abort already cut it; its write error was recorded then
      try {
        await child.send(type, body, type === FrameType.END ? this.#counter.bytes : 0);
      } catch (error) {
        if (!this.#links.some((l) => l.to === child.peer)) {
          this.#links.push({ to: child.peer, error: wireError(error, "NWF") });
        }
      }
      child.close();
    }));
  }

  #abort(reason: KadError): void {
    this.#abortReason ??= reason;
    this.#upstream?.close();
    this.#listener.close();
    for (const child of this.#children) child.close();
  }

  async #watchControl(): Promise<void> {
    try {
      for (;;) {
        const message = await this.#control.readMessage();
        if (message === null) break;
        if (message.type === FrameType.DROP) {
          const { node, code, message: text } = message.body;
          this.#fanOut?.failOutput(node, new KadError(code, text, { node }));
          continue;
        }
        if (message.type === FrameType.ABORT || message.type === FrameType.ERROR) {
          this.#abort(new AbortReceivedError(message.body.code, message.body.message));
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

  #sendProgress(): void {
    this.#control.send(FrameType.PROGRESS, { bytes: this.#counter.bytes }).catch(() => {});
    this.#options.onEvent?.({
      type: "progress",
      bytes: this.#counter.bytes,
      streamBytes: this.#plan.streamBytes,
    });
  }
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
