/**
 * The server (`kad serve`): accepts nodes in any order, starts on a trigger, plans the topology,
 * streams the source once to the head node(s), and collects a verified report from every node.
 *
 * @module
 */

import { ConfigError, describeError, KadError } from "../errors.ts";
import { createStreamHasher, type HashAlgorithm } from "../integrity/stream_hash.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { listenOn } from "../net/listen.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import type { HelloMessage, PeerAddress, ReportMessage, WireError } from "../protocol/messages.ts";
import { connectChild, linkOutput } from "../relay/data_link.ts";
import { DEFAULT_SLOT_BYTES, DEFAULT_SLOTS, FanOut, STALL_SAFETY_FACTOR } from "../relay/fan_out.ts";
import { type ByteCounter, pumpSource } from "../relay/stream_pump.ts";
import { type DeploymentReport, judgeNode, type NodeResult, type SourceOutcome } from "../report/report.ts";
import { openSource, validateSource } from "../source/open_source.ts";
import { FailedSource } from "../source/failed_source.ts";
import type { Source, SourceSpec } from "../source/source.ts";
import { type Plan, type PlanOrder, planTopology, SERVER_NAME } from "../topology/planner.ts";
import { type StartTrigger, waitForStart } from "./start_trigger.ts";

/** Options of a {@link Server}. */
export interface ServeOptions {
  /** What to stream. */
  source: SourceSpec;
  /** Control listener address. */
  listen: { host: string; port: number };
  /** When to start. */
  start: StartTrigger;
  /** Children per node: 1 = chain. */
  fanout: number;
  /** Order of nodes in the plan. */
  order: PlanOrder;
  /** Stream hash. */
  hash: HashAlgorithm;
  /** Timeout in milliseconds of every wait on a peer. */
  timeoutMs: number;
  /** Ring slots. */
  slots?: number;
  /** Bytes per slot. */
  slotBytes?: number;
  /** Aborts the deployment (operator interrupt). */
  signal?: AbortSignal;
  /** Receives events. */
  onEvent?: (event: ServeEvent) => void;
}

/** A node as the server knows it. */
export interface JoinedNode {
  /** Name. */
  name: string;
  /** Data address. */
  address: PeerAddress;
  /** Order of joining. */
  joinIndex: number;
}

/** Progress of a running deployment. */
export interface ServeProgress {
  /** Bytes the source sent. */
  bytes: number;
  /** Total when known. */
  totalBytes: number | null;
  /** Seconds since streaming started. */
  seconds: number;
  /** Smallest byte count received among the nodes still running. */
  slowestNodeBytes: number;
  /** Nodes that reported. */
  nodesDone: number;
  /** Nodes in the plan. */
  nodeCount: number;
}

/** Events of a server. */
export type ServeEvent =
  | { type: "listening"; host: string; port: number }
  | { type: "joined"; node: JoinedNode; count: number }
  | { type: "left"; name: string; count: number }
  | { type: "refused"; name: string; reason: string }
  | { type: "planned"; plan: Plan }
  | { type: "progress"; progress: ServeProgress }
  | { type: "node-done"; node: NodeResult }
  | { type: "done"; report: DeploymentReport };

const PING_INTERVAL_MS = 2000;
const PROGRESS_INTERVAL_MS = 1000;

class NodeSession {
  report: ReportMessage | null = null;
  lastBytes = 0;
  lost: WireError | null = null;
  readonly done: Promise<void>;
  #resolveDone!: () => void;
  constructor(readonly node: JoinedNode, readonly control: FrameConn) {
    this.done = new Promise((r) => this.#resolveDone = r);
  }
  finish(): void {
    this.#resolveDone();
  }
}

/** A deployment server. Create, {@link listen}, then {@link run}. */
export class Server {
  readonly #options: ServeOptions;
  readonly #sessions = new Map<string, NodeSession>();
  readonly #deployment = crypto.randomUUID();
  #listener: Deno.Listener | null = null;
  #started = false;
  #joinIndex = 0;
  #joinedWake: (() => void) | null = null;
  #acceptLoop: Promise<void> = Promise.resolve();
  readonly #handshakes = new Set<Promise<void>>();
  #outcome: SourceOutcome | null = null;
  #fanOut: FanOut | null = null;
  #plan: Plan | null = null;
  readonly #announced = new Set<string>();

  /** Creates a server; nothing happens until {@link listen}. */
  constructor(options: ServeOptions) {
    this.#options = options;
  }

  /** Checks the source, binds the control port and starts accepting nodes; returns the port. */
  async listen(): Promise<number> {
    await validateSource(this.#options.source);
    this.#listener = listenOn(this.#options.listen, "nodes");
    const port = (this.#listener.addr as Deno.NetAddr).port;
    this.#acceptLoop = this.#accept(this.#listener);
    this.#options.onEvent?.({ type: "listening", host: this.#options.listen.host, port });
    return port;
  }

  /** Names of the nodes joined so far. */
  get joined(): string[] {
    return [...this.#sessions.keys()];
  }

  /** Waits for the start trigger, deploys, and returns the report. */
  async run(): Promise<DeploymentReport> {
    if (this.#listener === null) throw new ConfigError("Server.run() called before listen()");
    const options = this.#options;
    const pinger = setInterval(() => this.#ping(), PING_INTERVAL_MS);
    try {
      await waitForStart(
        options.start,
        () => this.#sessions.size,
        (wake) => this.#joinedWake = wake,
        options.signal,
      );
      this.#started = true;
      if (options.signal?.aborted) return this.#abortedReport();
      return await this.#deploy();
    } finally {
      clearInterval(pinger);
      this.close();
      await this.#acceptLoop;
      await Promise.all(this.#handshakes);
    }
  }

  /** Stops listening and closes every connection. */
  close(): void {
    try {
      this.#listener?.close();
    } catch {
      // already closed
    }
    for (const session of this.#sessions.values()) session.control.close();
  }

  async #deploy(): Promise<DeploymentReport> {
    const options = this.#options;
    const plan = planTopology(
      [...this.#sessions.values()].map((s) => ({ name: s.node.name, joinIndex: s.node.joinIndex })),
      { fanout: options.fanout, order: options.order },
    );
    this.#plan = plan;
    options.onEvent?.({ type: "planned", plan });
    const source = await openSource(options.source).catch((error) =>
      new FailedSource(options.source.kind, error)
    );
    for (const session of this.#sessions.values()) session.control.idleTimeoutMs = options.timeoutMs;
    await Promise.all(plan.nodes.map((planned) => {
      const session = this.#sessions.get(planned.name)!;
      return session.control.send(FrameType.PLAN, {
        deployment: this.#deployment,
        position: planned.position,
        nodeCount: plan.nodes.length,
        upstream: planned.upstream,
        children: planned.children.map((c) => this.#sessions.get(c)!.node.address),
        hashAlgorithm: options.hash,
        streamBytes: source.size,
      }).catch((error) => this.#lose(session, { code: "NNF", message: describeError(error) }));
    }));
    const counter: ByteCounter = { bytes: 0 };
    const startedAt = performance.now();
    const progress = setInterval(
      () => this.#progress(counter, source.size, startedAt, plan),
      PROGRESS_INTERVAL_MS,
    );
    try {
      const outcome = await this.#stream(plan, source, counter);
      this.#outcome = outcome;
      for (const session of this.#sessions.values()) if (session.report) this.#announce(session);
      await this.#collectReports(plan, outcome);
      return this.#report(plan, source, outcome, (performance.now() - startedAt) / 1000);
    } finally {
      clearInterval(progress);
    }
  }

  /** Links to the heads and streams the source; never throws, the outcome carries the failure. */
  async #stream(plan: Plan, source: Source, counter: ByteCounter): Promise<SourceOutcome> {
    const options = this.#options;
    const heads: FrameConn[] = [];
    await Promise.all(plan.heads.map(async (name) => {
      const session = this.#sessions.get(name)!;
      try {
        heads.push(
          await connectChild(session.node.address, {
            deployment: this.#deployment,
            from: SERVER_NAME,
            to: name,
          }, options.timeoutMs),
        );
      } catch (error) {
        this.#lose(session, { code: "NNF", message: describeError(error) });
      }
    }));
    const hasher = await createStreamHasher(options.hash);
    const fanOut = new FanOut(heads.map(linkOutput), {
      slots: options.slots ?? DEFAULT_SLOTS,
      slotBytes: options.slotBytes ?? DEFAULT_SLOT_BYTES,
      stallTimeoutMs: options.timeoutMs * STALL_SAFETY_FACTOR,
    });
    this.#fanOut = fanOut;
    const onAbort = () => void source.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    let error: WireError | null = null;
    try {
      if (heads.length === 0) throw new KadError("NNF", "No node fed by the source could be reached");
      await pumpSource(source, fanOut, hasher, counter, options.signal);
      await source.finish();
      if (options.signal?.aborted) throw new KadError(ABORTED.code, ABORTED.message);
    } catch (caught) {
      // a typed failure of the stream keeps its code; anything from the source itself is LRF
      error = options.signal?.aborted
        ? ABORTED
        : caught instanceof KadError && caught.code !== "LRF"
        ? { code: caught.code, message: caught.message }
        : { code: "LRF", message: `Source failed: ${describeError(caught)}` };
      await source.abort();
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
    }
    await fanOut.finish(options.timeoutMs);
    const hash = hasher.digest();
    const end = error === null
      ? { type: FrameType.END, body: { bytes: counter.bytes, hash, algorithm: options.hash } }
      : { type: FrameType.ABORT, body: error };
    await Promise.all(heads.map(async (head) => {
      await head.send(end.type, end.body, error === null ? counter.bytes : 0).catch(() => {});
      head.close();
    }));
    // a failed source, an operator abort or unreachable heads reach every node at once on its control
    // connection; when the heads died mid-stream (NWF), the nodes learn it from their own broken links
    if (error !== null && error.code !== "NWF") {
      for (const session of this.#sessions.values()) {
        session.control.send(FrameType.ABORT, error).catch(() => {});
      }
    }
    return { bytes: counter.bytes, hash, error };
  }

  async #collectReports(plan: Plan, outcome: SourceOutcome): Promise<void> {
    const sessions = plan.nodes.map((n) => this.#sessions.get(n.name)!);
    const abort = () => {
      for (const s of sessions) s.control.send(FrameType.ABORT, outcome.error ?? ABORTED).catch(() => {});
    };
    this.#options.signal?.addEventListener("abort", abort, { once: true });
    await Promise.all(sessions.map((s) => s.done));
    this.#options.signal?.removeEventListener("abort", abort);
  }

  /** The verdict on one node given the source's outcome. */
  #result(session: NodeSession, outcome: SourceOutcome): NodeResult {
    const planned = this.#plan!.nodes.find((n) => n.name === session.node.name)!;
    const verdict = judgeNode(
      session.report,
      outcome,
      session.lost ?? {
        code: "NNF",
        message: "Node vanished before reporting",
      },
    );
    return {
      name: planned.name,
      address: `${session.node.address.host}:${session.node.address.port}`,
      position: planned.position,
      upstream: planned.upstream,
      ...verdict,
    };
  }

  /** Emits node-done once per node, as soon as its verdict is final. */
  #announce(session: NodeSession): void {
    if (this.#plan === null || this.#announced.has(session.node.name)) return;
    const failedAnyway = session.report?.status === "failed" || session.report === null;
    const outcome = this.#outcome ?? (failedAnyway ? { bytes: 0, hash: "", error: null } : null);
    if (outcome === null) return;
    this.#announced.add(session.node.name);
    this.#options.onEvent?.({ type: "node-done", node: this.#result(session, outcome) });
  }

  #report(plan: Plan, source: Source, outcome: SourceOutcome, seconds: number): DeploymentReport {
    for (const session of this.#sessions.values()) this.#announce(session);
    const nodes = plan.nodes.map((planned) => this.#result(this.#sessions.get(planned.name)!, outcome));
    const report: DeploymentReport = {
      version: 1,
      deployment: this.#deployment,
      source: source.description,
      bytes: outcome.bytes,
      hash: outcome.hash,
      algorithm: this.#options.hash,
      fanout: plan.fanout,
      seconds,
      error: outcome.error,
      nodes,
    };
    this.#options.onEvent?.({ type: "done", report });
    return report;
  }

  #abortedReport(): DeploymentReport {
    const report: DeploymentReport = {
      version: 1,
      deployment: this.#deployment,
      source: "",
      bytes: 0,
      hash: "",
      algorithm: this.#options.hash,
      fanout: this.#options.fanout,
      seconds: 0,
      error: ABORTED,
      nodes: [...this.#sessions.values()].map((s, position) => ({
        name: s.node.name,
        address: `${s.node.address.host}:${s.node.address.port}`,
        position,
        upstream: "",
        status: "failed",
        error: ABORTED,
        bytes: 0,
        hash: "",
        seconds: 0,
        rssBytes: null,
        cpuSeconds: null,
      })),
    };
    for (const s of this.#sessions.values()) s.control.send(FrameType.ABORT, ABORTED).catch(() => {});
    return report;
  }

  #progress(counter: ByteCounter, total: number | null, startedAt: number, plan: Plan): void {
    const running = [...this.#sessions.values()].filter((s) => s.report === null && s.lost === null);
    this.#options.onEvent?.({
      type: "progress",
      progress: {
        bytes: counter.bytes,
        totalBytes: total,
        seconds: (performance.now() - startedAt) / 1000,
        slowestNodeBytes: running.length ? Math.min(...running.map((s) => s.lastBytes)) : counter.bytes,
        nodesDone: plan.nodes.length - running.length,
        nodeCount: plan.nodes.length,
      },
    });
  }

  /** A node lost mid-stream: its upstream stops feeding it at once instead of waiting on a full socket. */
  #dropFromUpstream(session: NodeSession): void {
    const planned = this.#plan?.nodes.find((n) => n.name === session.node.name);
    if (!planned || session.lost === null) return;
    const reason = { code: session.lost.code, message: session.lost.message, node: planned.name };
    if (planned.upstream === SERVER_NAME) {
      this.#fanOut?.failOutput(
        planned.name,
        new KadError(reason.code, reason.message, { node: planned.name }),
      );
    } else {
      this.#sessions.get(planned.upstream)?.control.send(FrameType.DROP, reason).catch(() => {});
    }
  }

  #ping(): void {
    for (const session of this.#sessions.values()) {
      session.control.send(FrameType.PING, {}).catch(() => {});
    }
  }

  #lose(session: NodeSession, error: WireError): void {
    session.lost ??= error;
    session.control.close();
    session.finish();
  }

  async #accept(listener: Deno.Listener): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      const handshake = this.#handshake(conn).catch(() => {});
      this.#handshakes.add(handshake);
      handshake.then(() => this.#handshakes.delete(handshake));
    }
  }

  async #handshake(raw: Deno.Conn): Promise<void> {
    const remote = raw.remoteAddr as Deno.NetAddr;
    const control = new FrameConn(raw, {
      peer: `node at ${remote.hostname}`,
      idleTimeoutMs: this.#options.timeoutMs,
    });
    let hello: HelloMessage;
    try {
      hello = await control.expect(FrameType.HELLO);
    } catch (error) {
      await control.send(FrameType.ERROR, { code: "PROTO", message: describeError(error) }).catch(() => {});
      control.close();
      return;
    }
    const refuse = async (code: "PROTO" | "REFUSED", message: string) => {
      this.#options.onEvent?.({ type: "refused", name: hello.name, reason: message });
      await control.send(FrameType.ERROR, { code, message }).catch(() => {});
      control.close();
    };
    if (hello.version !== PROTOCOL_VERSION) {
      return await refuse(
        "PROTO",
        `Protocol version ${hello.version} is not supported: this server speaks version ${PROTOCOL_VERSION}`,
      );
    }
    if (this.#started) {
      return await refuse("REFUSED", `Deployment already started: node ${hello.name} is too late`);
    }
    if (this.#sessions.has(hello.name)) {
      return await refuse("REFUSED", `A node named ${hello.name} has already joined`);
    }
    control.peer = hello.name;
    control.idleTimeoutMs = 0;
    const node: JoinedNode = {
      name: hello.name,
      address: { name: hello.name, host: hello.dataHost || remote.hostname, port: hello.dataPort },
      joinIndex: this.#joinIndex++,
    };
    const session = new NodeSession(node, control);
    this.#sessions.set(node.name, session);
    this.#options.onEvent?.({ type: "joined", node, count: this.#sessions.size });
    this.#joinedWake?.();
    await control.send(FrameType.ACCEPT, { deployment: this.#deployment, joinIndex: node.joinIndex });
    await this.#listenTo(session);
  }

  /** Reads a node's control messages until it reports or goes away. */
  async #listenTo(session: NodeSession): Promise<void> {
    try {
      for (;;) {
        const message = await session.control.readMessage();
        if (message === null) break;
        if (message.type === FrameType.PROGRESS) session.lastBytes = message.body.bytes;
        if (message.type === FrameType.REPORT) {
          session.report = message.body;
          session.lastBytes = message.body.bytes;
          this.#announce(session);
          session.finish();
          return;
        }
      }
      session.lost ??= { code: "NNF", message: `Node ${session.node.name} closed its control connection` };
    } catch (error) {
      session.lost ??= {
        code: error instanceof KadError ? error.code : "NNF",
        message: describeError(error),
      };
    }
    session.control.close();
    if (this.#outcome === null) this.#dropFromUpstream(session);
    if (!this.#started) {
      this.#sessions.delete(session.node.name);
      this.#options.onEvent?.({ type: "left", name: session.node.name, count: this.#sessions.size });
    }
    session.finish();
  }
}

const ABORTED: WireError = { code: "ABORT", message: "Deployment interrupted by the operator" };
