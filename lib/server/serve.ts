/**
 * The server (`kad serve`): accepts nodes in any order, starts on a trigger, plans the topology,
 * streams the source once to the head node(s), and collects a verified report from every node.
 *
 * @module
 */

import { ConfigError, describeError, type ErrorCode, KadError } from "../errors.ts";
import { createStreamHasher, type HashAlgorithm } from "../integrity/stream_hash.ts";
import { listenOn } from "../net/listen.ts";
import { checkServerTls, type ServerTls } from "../net/tls.ts";
import { FrameType } from "../protocol/frame.ts";
import {
  type AdoptedMessage,
  type LinkPeer,
  type PhaseMessage,
  POST_INSTALL_FEATURE,
  RAW_FEATURE,
  RENAME_FEATURE,
  type StreamInfo,
  type UpstreamLostMessage,
  type WireError,
} from "../protocol/messages.ts";
import { Downstream } from "../relay/downstream.ts";
import { FanOut, NotRetainedError, relayFanOutOptions, type RingGeometry } from "../relay/fan_out.ts";
import { type ByteCounter, pumpSource } from "../relay/stream_pump.ts";
import { JOINED_PHASE, type PhaseNote, type PhaseRecord, RECEIVED_PHASE } from "../report/phase.ts";
import {
  type DeploymentReport,
  judgeNode,
  type NodeResult,
  type RepairRecord,
  type SourceOutcome,
} from "../report/report.ts";
import { linkKeyContext } from "../security/handshake.ts";
import { tokenKey } from "../security/join_token.ts";
import { randomKey } from "../security/key_derivation.ts";
import { sealKey } from "../security/sealed_key.ts";
import { openSource, validateSource } from "../source/open_source.ts";
import { FailedSource } from "../source/failed_source.ts";
import type { Source, SourceSpec } from "../source/source.ts";
import { LiveTopology } from "../topology/live_topology.ts";
import { type Plan, type PlanOrder, planTopology, SERVER_NAME } from "../topology/planner.ts";
import { type StartTrigger, waitForStart } from "./start_trigger.ts";
import { type JoinedNode, NodeSession, uniqueName } from "./node_session.ts";
import { StallDetector } from "./stall_detector.ts";
import { sinkMismatch } from "../sink/stream_fit.ts";
import { logger } from "../log.ts";
import { Admission, type AdmissionDecision, type Introduction, type Refusal } from "./admission.ts";

export type { JoinedNode } from "./node_session.ts";

/** Options of a {@link Server}. */
export interface ServeOptions extends RingGeometry {
  /** What to stream. */
  source: SourceSpec;
  /** The join token nodes must prove; null runs without authentication (`--insecure`). */
  token: string | null;
  /** TLS on control and data links (`--tls`; needs a token), or null/absent for plain TCP. */
  tls?: ServerTls | null;
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
  /** A node silent this long while streaming is failed (TIMEOUT) and repaired around (default 3 s). */
  stallTimeoutMs?: number;
  /** Limit on connecting to a node's data port and its handshake (default: `timeoutMs`). */
  connectTimeoutMs?: number;
  /** Abort the whole deployment as soon as one node fails (all or nothing). */
  abortOnNodeFailure?: boolean;
  /** Aborts the deployment (operator interrupt). */
  signal?: AbortSignal;
  /** Receives events. */
  onEvent?: (event: ServeEvent) => void;
  /** How often a server no node joined says so (default {@link IDLE_NOTICE_MS}). */
  idleNoticeMs?: number;
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
  /** Nodes that reported a verified copy. */
  nodesDone: number;
  /** Nodes that failed (lost, or reported a failure). */
  nodesFailed: number;
  /** Nodes in the plan. */
  nodeCount: number;
}

/** Events of a server. */
export type ServeEvent =
  | { type: "listening"; host: string; port: number; tls: boolean }
  | {
    type: "joined";
    node: JoinedNode;
    count: number;
    /** The name the node asked for, when it was taken and the node got another; else null. */
    renamedFrom: string | null;
  }
  | { type: "left"; name: string; count: number; reason: string }
  /** Still no node joined, `seconds` after listening (every {@link IDLE_NOTICE_MS}). */
  | { type: "idle"; seconds: number }
  | { type: "refused"; refusal: Refusal }
  | { type: "planned"; plan: Plan }
  | { type: "progress"; progress: ServeProgress }
  | { type: "node-done"; node: NodeResult }
  | { type: "node-lost"; name: string; error: WireError }
  | { type: "phase"; name: string; phase: PhaseRecord }
  | { type: "repaired"; repair: RepairRecord }
  | { type: "done"; report: DeploymentReport };

const PING_INTERVAL_MS = 1000;
/** Default silence after which a streaming node is declared hung: 3 missed heartbeats, detected in 3–4 s. */
export const DEFAULT_STALL_TIMEOUT_MS = 3000;
/** A node that says its upstream broke while the upstream looks alive is relinked after this. */
const RELINK_GRACE_MS = 1000;
const log = logger("server");
const PROGRESS_INTERVAL_MS = 1000;
/** How often a server that no node has joined says so. */
export const IDLE_NOTICE_MS = 30_000;
/** How often silences are checked. */
const STALL_CHECK_MS = 250;

/** A deployment server. Create, {@link listen}, then {@link run}. */
export class Server {
  readonly #options: ServeOptions;
  readonly #sessions = new Map<string, NodeSession>();
  readonly #deployment = crypto.randomUUID();
  readonly #tokenKey: Uint8Array | null;
  /** The key of every data link planned or assigned, by `linkId(from, to)`. */
  readonly #linkKeys = new Map<string, Uint8Array>();
  #admission: Admission | null = null;
  /** What is streamed, as nodes are told when they join. */
  #streamInfo: StreamInfo | null = null;
  /** When {@link listen} was called: phases are timed from here. */
  #listenedAt = performance.now();
  #started = false;
  #joinIndex = 0;
  #joinedWake: (() => void) | null = null;
  #outcome: SourceOutcome | null = null;
  #fanOut: FanOut | null = null;
  #downstream: Downstream | null = null;
  #source: Source | null = null;
  #plan: Plan | null = null;
  #live: LiveTopology | null = null;
  readonly #announced = new Set<string>();
  /** Repairs decided and not yet answered, by the child being repaired. */
  readonly #pendingRepairs = new Map<string, { record: RepairRecord; startedAt: number }>();
  readonly #repairs: RepairRecord[] = [];
  /** Adoptions the server itself is making. */
  readonly #serverAdoptions = new Set<Promise<void>>();
  /** Aborts the run: the operator's signal, or a node failure under `abortOnNodeFailure`. */
  readonly #abort = new AbortController();
  readonly #stalls: StallDetector;
  #abortReason: WireError = ABORTED;

  /** Creates a server; nothing happens until {@link listen}. */
  constructor(options: ServeOptions) {
    this.#options = options;
    this.#tokenKey = options.token === null ? null : tokenKey(options.token);
    this.#stalls = new StallDetector({
      stallMs: options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
      waitMs: options.timeoutMs,
      checkEveryMs: STALL_CHECK_MS,
    });
    const onAbort = () => this.#abort.abort();
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
  }

  get #signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Checks the source, binds the control port and starts accepting nodes; returns the port. */
  async listen(): Promise<number> {
    this.#streamInfo = await validateSource(this.#options.source);
    const tls = this.#options.tls ?? null;
    if (tls !== null) {
      if (this.#tokenKey === null) {
        throw new ConfigError(
          "--tls needs a join token: nodes get the data-link certificate only after proving it",
        );
      }
      await checkServerTls(tls);
    }
    const listener = listenOn(this.#options.listen, "nodes", tls);
    this.#listenedAt = performance.now();
    const port = (listener.addr as Deno.NetAddr).port;
    this.#admission = new Admission(listener, {
      tokenKey: this.#tokenKey,
      tls,
      connectTimeoutMs: this.#options.connectTimeoutMs ?? this.#options.timeoutMs,
      decide: (introduction) => this.#decide(introduction),
      follow: (session) => this.#listenTo(session),
      onRefused: (refusal) => this.#options.onEvent?.({ type: "refused", refusal }),
    });
    this.#options.onEvent?.({ type: "listening", host: this.#options.listen.host, port, tls: tls !== null });
    return port;
  }

  /** Names of the nodes joined so far. */
  get joined(): string[] {
    return [...this.#sessions.keys()];
  }

  /** Waits for the start trigger, deploys, and returns the report. */
  async run(): Promise<DeploymentReport> {
    if (this.#admission === null) throw new ConfigError("Server.run() called before listen()");
    const options = this.#options;
    const pinger = setInterval(() => this.#ping(), PING_INTERVAL_MS);
    const waitingSince = performance.now();
    const idle = setInterval(() => {
      if (this.#started || this.#sessions.size > 0) return;
      this.#options.onEvent?.({
        type: "idle",
        seconds: Math.round((performance.now() - waitingSince) / 1000),
      });
    }, this.#options.idleNoticeMs ?? IDLE_NOTICE_MS);
    try {
      await waitForStart(
        options.start,
        () => this.#sessions.size,
        (wake) => this.#joinedWake = wake,
        this.#signal,
      );
      this.#started = true;
      if (this.#signal.aborted) return this.#abortedReport();
      return await this.#deploy();
    } finally {
      clearInterval(pinger);
      clearInterval(idle);
      this.close();
      await this.#admission.settled();
    }
  }

  /** Stops listening and closes every connection. */
  close(): void {
    this.#admission?.stop();
    for (const session of this.#sessions.values()) session.control.close();
  }

  async #deploy(): Promise<DeploymentReport> {
    const options = this.#options;
    const plan = planTopology(
      [...this.#sessions.values()].map((s) => ({ name: s.node.name, joinIndex: s.node.joinIndex })),
      { fanout: options.fanout, order: options.order },
    );
    this.#plan = plan;
    this.#live = new LiveTopology(plan);
    for (const planned of plan.nodes) {
      this.#newLinkKey(planned.upstream, planned.name);
      this.#sessions.get(planned.name)!.upstream = planned.upstream;
    }
    options.onEvent?.({ type: "planned", plan });
    log.debug("Planned {count} nodes, fan-out {fanout}, heads {heads}", {
      count: plan.nodes.length,
      fanout: plan.fanout,
      heads: plan.heads.join(" "),
    });
    const source = await openSource(options.source).catch((error) =>
      new FailedSource(options.source.kind, error)
    );
    this.#source = source;
    // nodes heartbeat from the plan on: the stall detector, not each connection, judges silences
    for (const session of this.#sessions.values()) {
      session.control.idleTimeoutMs = 0;
      this.#stalls.watch(session.node.name, performance.now());
    }
    await Promise.all(plan.nodes.map((planned) => {
      const session = this.#sessions.get(planned.name)!;
      return session.control.send(FrameType.PLAN, {
        deployment: this.#deployment,
        position: planned.position,
        nodeCount: plan.nodes.length,
        upstream: planned.upstream,
        upstreamKey: this.#sealedLinkKey(planned.upstream, planned.name, planned.name),
        children: planned.children.map((c) => this.#linkPeer(planned.name, c)),
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
    const stallCheck = setInterval(() => this.#checkStalls(), STALL_CHECK_MS);
    try {
      const outcome = await this.#stream(plan, source, counter);
      this.#outcome = outcome;
      for (const session of this.#sessions.values()) if (session.report) this.#announce(session);
      await this.#collectReports(plan, outcome);
      return this.#report(plan, source, outcome, (performance.now() - startedAt) / 1000);
    } finally {
      clearInterval(progress);
      clearInterval(stallCheck);
      await this.#settleRepairs();
      this.#downstream?.closeAll();
      this.#fanOut?.close();
    }
  }

  /** Links to the heads and streams the source; never throws, the outcome carries the failure. */
  async #stream(plan: Plan, source: Source, counter: ByteCounter): Promise<SourceOutcome> {
    const options = this.#options;
    const fanOut = this.#fanOut = new FanOut(
      [],
      relayFanOutOptions(options, options.timeoutMs, this.#tokenKey !== null),
    );
    const downstream = this.#downstream = new Downstream(fanOut, {
      deployment: this.#deployment,
      self: SERVER_NAME,
      security: {
        timeoutMs: options.connectTimeoutMs ?? options.timeoutMs,
        tls: options.tls ? { ca: options.tls.ca } : null,
      },
    });
    await Promise.all(plan.heads.map(async (name) => {
      const session = this.#sessions.get(name)!;
      try {
        downstream.attach(await downstream.connect(session.node.address, this.#keyOf(SERVER_NAME, name)));
      } catch (error) {
        // an unreachable head is repaired around at once: the server feeds its children
        this.#lose(session, { code: "NNF", message: describeError(error) });
        this.#repairAround(session, session.lost!);
      }
    }));
    await this.#settleRepairs();
    const hasher = await createStreamHasher(options.hash);
    const onAbort = () => void source.abort();
    this.#signal.addEventListener("abort", onAbort, { once: true });
    let error: WireError | null = null;
    try {
      if (fanOut.liveOutputs === 0) throw new KadError("NNF", "No node fed by the source could be reached");
      await pumpSource(source, fanOut, hasher, counter, this.#signal);
      await source.finish();
      if (this.#signal.aborted) throw new KadError(this.#abortReason.code, this.#abortReason.message);
    } catch (caught) {
      // a typed failure of the stream keeps its code; anything from the source itself is LRF
      error = this.#signal.aborted
        ? this.#abortReason
        : caught instanceof KadError && caught.code !== "LRF"
        ? { code: caught.code, message: caught.message }
        : { code: "LRF", message: `Source failed: ${describeError(caught)}` };
      await source.abort();
    } finally {
      this.#signal.removeEventListener("abort", onAbort);
    }
    await fanOut.finish(options.timeoutMs);
    const hash = hasher.digest();
    // heads get the final frame once drained; children the server adopts later get it too
    void downstream.end(
      error === null
        ? {
          type: FrameType.END,
          body: { bytes: counter.bytes, hash, algorithm: options.hash },
          offset: counter.bytes,
        }
        : { type: FrameType.ABORT, body: error, offset: 0 },
    );
    // a failed source, an abort or unreachable heads reach every node at once on its control
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
      for (const s of sessions) {
        s.control.send(FrameType.ABORT, outcome.error ?? this.#abortReason).catch(() => {});
      }
    };
    this.#signal.addEventListener("abort", abort, { once: true });
    await Promise.all(sessions.map((s) => s.ended));
    this.#signal.removeEventListener("abort", abort);
  }

  /** True while a repair is worth making: the stream has not failed. */
  get #repairing(): boolean {
    return this.#live !== null && !this.#signal.aborted && (this.#outcome?.error ?? null) === null;
  }

  /** Whether `name` can feed adopted children: a node still streaming, or the server. */
  #canFeed = (name: string): boolean => {
    if (name === SERVER_NAME) return true;
    const session = this.#sessions.get(name);
    return session !== undefined && session.report === null && session.lost === null;
  };

  /** `node` itself when it can feed adopted children, else its nearest ancestor that can. */
  #feederFrom(node: string): string {
    return this.#canFeed(node) ? node : this.#live!.feederFor(node, this.#canFeed);
  }

  /**
   * A node failed mid-stream (vanished, hung, unreachable): its upstream stops feeding it, and its
   * children move under the nearest ancestor still streaming, which resends what each lacks.
   */
  #repairAround(session: NodeSession, reason: WireError): void {
    const name = session.node.name;
    if (this.#live === null || !this.#live.has(name)) return;
    this.#options.onEvent?.({ type: "node-lost", name, error: reason });
    this.#pendingRepairs.delete(name);
    if (this.#options.abortOnNodeFailure) return this.#abortRun(name, reason);
    if (!this.#repairing) return;
    const removed = this.#live.remove(name)!;
    const feeder = this.#feederFrom(removed.parent);
    log.debug("Repairing around {name} ({code}): {feeder} adopts {children}", {
      name,
      code: reason.code,
      feeder,
      children: removed.children.join(" ") || "nobody",
    });
    for (const child of removed.children) this.#assign(child, feeder, name);
    const adopt = removed.children.map((c) => this.#linkPeer(feeder, c));
    const drop = { code: reason.code, message: reason.message, node: name };
    if (removed.parent === SERVER_NAME) {
      this.#fanOut?.failOutput(name, new KadError(reason.code, reason.message, { node: name }));
    } else {
      this.#sessions.get(removed.parent)?.control.send(FrameType.DROP, {
        ...drop,
        adopt: feeder === removed.parent ? adopt : [],
      }).catch(() => {});
    }
    if (feeder === SERVER_NAME) this.#adoptByServer(removed.children, name);
    else if (feeder !== removed.parent) {
      this.#sessions.get(feeder)?.control.send(FrameType.DROP, { ...drop, adopt }).catch(() => {});
    }
  }

  /**
   * Moves `child` under `feeder` and tells it where its stream comes from now; a repair handed on
   * from a feeder that could not make it keeps the time it was first decided.
   */
  #assign(child: string, feeder: string, failed: string, startedAt = performance.now()): void {
    this.#live!.move(child, feeder);
    const session = this.#sessions.get(child);
    if (session) session.upstream = feeder;
    this.#pendingRepairs.set(child, {
      record: { failed, child, upstream: feeder, offset: null, resentBytes: 0, seconds: 0, error: null },
      startedAt,
    });
    this.#newLinkKey(feeder, child);
    session?.control.send(FrameType.NEW_UPSTREAM, {
      upstream: feeder,
      key: this.#sealedLinkKey(feeder, child, child),
    }).catch(() => {});
  }

  /** A fresh key for the data link `from` → `to` (none when unauthenticated). */
  #newLinkKey(from: string, to: string): void {
    if (this.#tokenKey !== null) this.#linkKeys.set(linkId(from, to), randomKey());
  }

  /** The key of the link `from` → `to`; null when unauthenticated. */
  #keyOf(from: string, to: string): Uint8Array | null {
    return this.#linkKeys.get(linkId(from, to)) ?? null;
  }

  /** The key of the link `from` → `to` sealed for node `holder` (one of its ends); "" when unauthenticated. */
  #sealedLinkKey(from: string, to: string, holder: string): string {
    const key = this.#keyOf(from, to);
    const seal = this.#sessions.get(holder)?.sealKey;
    if (key === null || !seal) return "";
    return sealKey(seal, key, linkKeyContext({ deployment: this.#deployment, from, to }));
  }

  /** Child `child` as its upstream `from` links to it: address and the link's key sealed for `from`. */
  #linkPeer(from: string, child: string): LinkPeer {
    return { ...this.#sessions.get(child)!.node.address, key: this.#sealedLinkKey(from, child, from) };
  }

  /** The server feeds `children` itself, from its ring or, for a seekable source, the source. */
  #adoptByServer(children: readonly string[], dropped: string): void {
    const adoption = Promise.all(children.map(async (child) => {
      const session = this.#sessions.get(child);
      if (!session || !this.#canFeed(child) || this.#downstream === null) return;
      try {
        const history = await this.#source?.openHistory?.();
        this.#repaired(
          child,
          SERVER_NAME,
          await this.#downstream.adopt(session.node.address, this.#keyOf(SERVER_NAME, child), history),
        );
      } catch (error) {
        const offset = error instanceof NotRetainedError ? error.offset : null;
        this.#repairFailed(child, SERVER_NAME, {
          code: errorCode(error, "NNF"),
          message: describeError(error),
        }, offset);
      }
    })).then(() => this.#fanOut?.release(dropped));
    this.#serverAdoptions.add(adoption);
    adoption.finally(() => this.#serverAdoptions.delete(adoption));
  }

  async #settleRepairs(): Promise<void> {
    while (this.#serverAdoptions.size > 0) await Promise.all(this.#serverAdoptions);
  }

  #repaired(child: string, upstream: string, adopted: AdoptedMessage): void {
    const pending = this.#pendingRepairs.get(child);
    if (!pending || pending.record.upstream !== upstream) return;
    this.#pendingRepairs.delete(child);
    const record: RepairRecord = {
      ...pending.record,
      offset: adopted.offset,
      resentBytes: adopted.resent,
      seconds: (performance.now() - pending.startedAt) / 1000,
    };
    this.#repairs.push(record);
    this.#options.onEvent?.({ type: "repaired", repair: record });
  }

  /** An adoption failed: the server tries itself; when even it cannot, the child fails. */
  #repairFailed(child: string, upstream: string, error: WireError, offset: number | null): void {
    const pending = this.#pendingRepairs.get(child);
    if (!pending || pending.record.upstream !== upstream) return;
    log.debug("{upstream} could not adopt {child}: {message}", { upstream, child, message: error.message });
    if (upstream !== SERVER_NAME && this.#repairing) {
      this.#assign(child, SERVER_NAME, pending.record.failed, pending.startedAt);
      return this.#adoptByServer([child], "");
    }
    this.#pendingRepairs.delete(child);
    const record: RepairRecord = {
      ...pending.record,
      offset,
      seconds: (performance.now() - pending.startedAt) / 1000,
      error,
    };
    this.#repairs.push(record);
    this.#options.onEvent?.({ type: "repaired", repair: record });
    const code = error.code === "GAP" ? "GAP" : "NRF";
    this.#sessions.get(child)?.control.send(FrameType.ERROR, {
      code,
      message: `Repair after ${record.failed} failed: ${error.message}`,
    }).catch(() => {});
  }

  /** A node says its upstream link broke. Unless that upstream is failing anyway, relink them. */
  #upstreamLost(session: NodeSession, lost: UpstreamLostMessage): void {
    const child = session.node.name;
    log.debug("{child} lost its upstream {upstream} at {offset}: {message}", { child, ...lost });
    if (!this.#repairing || this.#live!.parentOf(child) !== lost.upstream) return;
    const timer = setTimeout(() => {
      if (!this.#repairing || this.#live!.parentOf(child) !== lost.upstream) return;
      const feeder = this.#feederFrom(lost.upstream);
      this.#assign(child, feeder, `${lost.upstream}→${child}`);
      const drop = {
        code: lost.code,
        message: lost.message,
        node: child,
        adopt: [this.#linkPeer(feeder, child)],
      };
      if (feeder === SERVER_NAME) {
        this.#fanOut?.failOutput(child, new KadError(lost.code, lost.message, { node: child }));
        this.#adoptByServer([child], "");
      } else {
        this.#sessions.get(feeder)?.control.send(FrameType.DROP, drop).catch(() => {});
      }
    }, RELINK_GRACE_MS);
    Deno.unrefTimer(timer);
  }

  /** `abortOnNodeFailure`: one node failed, so the whole run stops. */
  #abortRun(name: string, reason: WireError): void {
    if (this.#signal.aborted || this.#outcome !== null) return;
    this.#abortReason = {
      code: "ABORT",
      message: `Node ${name} failed (${reason.code}: ${reason.message}); aborting (--abort-on-node-failure)`,
    };
    this.#abort.abort();
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
    const postInstallFailed = verdict.status === "ok" && session.postInstallError !== null;
    return {
      name: planned.name,
      address: `${session.node.address.host}:${session.node.address.port}`,
      position: planned.position,
      upstream: session.upstream,
      ...verdict,
      ...(postInstallFailed ? { status: "failed" as const, error: session.postInstallError } : {}),
      phases: [...session.phases],
    };
  }

  /** Emits node-done once per node, as soon as its verdict is final. */
  #announce(session: NodeSession): void {
    if (this.#plan === null || this.#announced.has(session.node.name)) return;
    if (session.postInstall === "running") return; // its verdict waits for the step's end
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
      repairs: this.#repairs,
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
      nodes: [...this.#sessions.values()].map((s, index) => ({
        name: s.node.name,
        address: `${s.node.address.host}:${s.node.address.port}`,
        position: index + 1,
        upstream: "",
        status: "failed",
        error: ABORTED,
        bytes: 0,
        hash: "",
        seconds: 0,
        rssBytes: null,
        cpuSeconds: null,
        phases: [...s.phases],
      })),
      repairs: [],
    };
    for (const s of this.#sessions.values()) s.control.send(FrameType.ABORT, ABORTED).catch(() => {});
    return report;
  }

  #progress(counter: ByteCounter, total: number | null, startedAt: number, plan: Plan): void {
    const sessions = [...this.#sessions.values()];
    const running = sessions.filter((s) => s.report === null && s.lost === null);
    const done = sessions.filter((s) => s.report?.status === "ok").length;
    this.#options.onEvent?.({
      type: "progress",
      progress: {
        bytes: counter.bytes,
        totalBytes: total,
        seconds: (performance.now() - startedAt) / 1000,
        slowestNodeBytes: running.length ? Math.min(...running.map((s) => s.lastBytes)) : counter.bytes,
        nodesDone: done,
        nodesFailed: plan.nodes.length - running.length - done,
        nodeCount: plan.nodes.length,
      },
    });
  }

  #ping(): void {
    for (const session of this.#sessions.values()) {
      session.control.send(FrameType.PING, {}).catch(() => {});
    }
  }

  /** Fails the nodes silent for too long (see stall_detector.ts); their repairs follow. */
  #checkStalls(): void {
    for (const { node, silentMs } of this.#stalls.overdue(performance.now())) {
      const session = this.#sessions.get(node);
      this.#stalls.forget(node);
      if (session === undefined) continue;
      const message = `No word from ${node} for ${(silentMs / 1000).toFixed(1)} s: hung, or cut off`;
      log.debug("{node} is silent past the stall limit ({limit} ms): {message}", {
        node,
        limit: Math.round(this.#stalls.stallMs),
        message,
      });
      // during its post-install step the loss is that step's (#followPostInstall), else the node's
      if (session.report === null) session.lost ??= { code: "TIMEOUT", message };
      else session.endPostInstall({ lost: message });
      session.control.close();
    }
  }

  #lose(session: NodeSession, error: WireError): void {
    this.#stalls.forget(session.node.name);
    session.lost ??= error;
    session.control.close();
    session.finish();
  }

  /**
   * The deployment's decision on a node that introduced itself: admitted under its name (or, for a
   * default name that is taken, a unique one), or refused. Synchronous: names are reserved at once.
   */
  #decide(intro: Introduction): AdmissionDecision {
    const { hello } = intro;
    if (this.#started) {
      return { refuse: "REFUSED", message: `Deployment already started: node ${hello.name} is too late` };
    }
    const mismatch = sinkMismatch(hello.sink, this.#streamInfo!, hello.features.includes(RAW_FEATURE));
    if (mismatch !== null) return { refuse: "REFUSED", message: mismatch };
    let name = hello.name;
    if (this.#sessions.has(name)) {
      if (!hello.features.includes(RENAME_FEATURE)) {
        return {
          refuse: "REFUSED",
          message: `A node named ${name} has already joined: give this one another --name`,
        };
      }
      name = uniqueName(hello.name, (n) => this.#sessions.has(n));
    }
    const node: JoinedNode = {
      name,
      address: { name, host: hello.dataHost || intro.remote.hostname, port: intro.dataPort },
      joinIndex: this.#joinIndex++,
    };
    const session = new NodeSession(
      node,
      intro.control,
      intro.sealKey,
      hello.features.includes(POST_INSTALL_FEATURE),
    );
    this.#sessions.set(name, session);
    for (const note of hello.phases) this.#phase(session, note, true);
    this.#phase(session, { phase: JOINED_PHASE, detail: `from ${intro.remote.hostname}` }, true);
    this.#options.onEvent?.({
      type: "joined",
      node,
      count: this.#sessions.size,
      renamedFrom: name === hello.name ? null : hello.name,
    });
    this.#joinedWake?.();
    return {
      session,
      accept: { deployment: this.#deployment, joinIndex: node.joinIndex, name, stream: this.#streamInfo! },
    };
  }

  /** Reads a node's control messages until it reports (and ends its post-install step) or goes away. */
  async #listenTo(session: NodeSession): Promise<void> {
    const name = session.node.name;
    try {
      for (;;) {
        const message = await session.control.readMessage();
        if (message === null) break;
        this.#stalls.heard(name, performance.now(), session.lastBytes > 0);
        switch (message.type) {
          case FrameType.PROGRESS:
            session.lastBytes = message.body.bytes;
            this.#stalls.heard(name, performance.now(), session.lastBytes > 0);
            break;
          case FrameType.PHASE:
            this.#phase(session, message.body, message.body.ok);
            break;
          case FrameType.UPSTREAM_LOST:
            this.#upstreamLost(session, message.body);
            break;
          case FrameType.ADOPTED:
            this.#repaired(message.body.child, name, message.body);
            break;
          case FrameType.ADOPT_FAILED:
            this.#repairFailed(message.body.child, name, message.body, message.body.offset || null);
            break;
          case FrameType.REPORT: {
            const report = session.report = message.body;
            session.lastBytes = report.bytes;
            const ok = report.status === "ok";
            this.#phase(session, {
              phase: RECEIVED_PHASE,
              detail: ok
                ? `${report.bytes} bytes verified in ${report.seconds.toFixed(1)} s`
                : `${report.error?.code}: ${report.error?.message}`,
            }, ok);
            if (ok && session.runsPostInstall) session.postInstall = "running";
            else this.#stalls.forget(name);
            this.#reported(session);
            if (session.postInstall === "running") await this.#followPostInstall(session);
            session.end();
            return;
          }
        }
      }
      session.lost ??= { code: "NNF", message: `Node ${name} closed its control connection` };
    } catch (error) {
      // a reset control connection means the node is gone (NNF), a silent one that it hung (TIMEOUT)
      const code = errorCode(error, "NNF");
      session.lost ??= { code: code === "NRF" ? "NNF" : code, message: describeError(error) };
    }
    session.control.close();
    if (this.#started) this.#repairAround(session, session.lost);
    else {
      this.#sessions.delete(name);
      this.#options.onEvent?.({
        type: "left",
        name,
        count: this.#sessions.size,
        reason: session.lost.message,
      });
      this.#joinedWake?.();
    }
    session.end();
  }

  /** After an ok REPORT: the phases of the node's post-install step, to the one that ends it. */
  async #followPostInstall(session: NodeSession): Promise<void> {
    try {
      for (;;) {
        const message = await session.control.readMessage();
        if (message === null) {
          session.endPostInstall({ lost: "the node closed its control connection" });
          break;
        }
        this.#stalls.heard(session.node.name, performance.now());
        if (message.type !== FrameType.PHASE) continue;
        this.#phase(session, message.body, message.body.ok);
        if (message.body.end) {
          session.endPostInstall(message.body);
          break;
        }
      }
    } catch (error) {
      session.endPostInstall({ lost: describeError(error) });
    }
    this.#stalls.forget(session.node.name);
    session.control.close();
    this.#announce(session);
  }

  /** Records a phase of a node and tells the listener. */
  #phase(session: NodeSession, note: PhaseNote | PhaseMessage, ok: boolean): void {
    const record = session.addPhase(note, ok, (performance.now() - this.#listenedAt) / 1000);
    if (record !== null) this.#options.onEvent?.({ type: "phase", name: session.node.name, phase: record });
  }

  /** A node's final word; adoptions it was asked for and never answered fall back to the server. */
  #reported(session: NodeSession): void {
    const name = session.node.name;
    this.#announce(session);
    if (session.report?.status === "failed" && this.#options.abortOnNodeFailure) {
      this.#abortRun(name, session.report.error ?? { code: "NRF", message: "failed" });
    }
    const own = this.#pendingRepairs.get(name);
    if (own && session.report?.status === "failed") { // it gave up waiting for its new upstream
      this.#pendingRepairs.delete(name);
      const seconds = (performance.now() - own.startedAt) / 1000;
      this.#repairs.push({ ...own.record, seconds, error: session.report.error });
    }
    for (const [child, pending] of [...this.#pendingRepairs]) {
      if (pending.record.upstream !== name) continue;
      this.#repairFailed(
        child,
        name,
        { code: "NNF", message: `${name} finished before feeding ${child}` },
        null,
      );
    }
    // a node that ends early (its sink failed under --abort-on-sink-error, a GAP) leaves children behind
    if (session.report?.status === "failed" && this.#live?.childrenOf(name).length) {
      this.#repairAround(session, session.report.error ?? { code: "NRF", message: `${name} failed` });
    }
    session.finish();
  }
}

/** Key of the link `from` → `to` in the server's table. */
function linkId(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

const ABORTED: WireError = { code: "ABORT", message: "Deployment interrupted by the operator" };

function errorCode(error: unknown, fallback: ErrorCode): ErrorCode {
  return error instanceof KadError ? error.code : fallback;
}
