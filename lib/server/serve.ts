/**
 * The server (`kad serve`): accepts nodes in any order ({@link Admission}), starts on a trigger,
 * plans the topology, streams the source once to the head node(s) ({@link ServerFeed}), follows
 * every node's control connection — heartbeats ({@link StallDetector}), repairs
 * ({@link RepairCoordinator}, whose commands {@link RepairCrew} carries out), phases — and collects a verified
 * report from every node.
 *
 * @module
 */

import { ConfigError, describeError } from "../errors.ts";
import { DEFAULT_HASH } from "../integrity/stream_hash.ts";
import { listenOn } from "../net/listen.ts";
import { checkServerTls } from "../net/tls.ts";
import { FrameType } from "../protocol/frame.ts";
import {
  type HelloMessage,
  type PhaseMessage,
  POST_INSTALL_FEATURE,
  RENAME_FEATURE,
  type StreamInfo,
  type WireError,
} from "../protocol/messages.ts";
import { DEFAULT_SLOT_BYTES } from "../relay/fan_out.ts";
import type { ByteCounter } from "../relay/stream_pump.ts";
import { JOINED_PHASE, type PhaseNote } from "../report/phase.ts";
import type { DeploymentReport } from "../report/report.ts";
import { tokenKey } from "../security/join_token.ts";
import { randomKey } from "../security/key_derivation.ts";
import { sinkMismatch } from "../sink/stream_fit.ts";
import { FailedSource } from "../source/failed_source.ts";
import { openSource, validateSource } from "../source/open_source.ts";
import { compressionName, requireZstd } from "../compression/zstd.ts";
import { planTopology, SERVER_NAME } from "../topology/planner.ts";
import { logger } from "../log.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from "../net/timeouts.ts";
import { Admission, type AdmissionDecision, type Introduction } from "./admission.ts";
import { ABORTED, abortedReport, deploymentReport, type RunFacts } from "./deployment_report.ts";
import { type JoinedNode, NodeSession, uniqueName } from "./node_session.ts";
import { LateJoins, Roster } from "./late_joins.ts";
import { Verdicts } from "./verdicts.ts";
import { RepairCoordinator } from "./repair_coordinator.ts";
import type { CoordinatorEvent } from "./repair_commands.ts";
import { progressOf, type ServeEvent } from "./serve_events.ts";
import { ServerFeed } from "./server_feed.ts";
import { DEFAULT_STALL_TIMEOUT_MS } from "./stall_detector.ts";
import { StallWatch } from "./stall_watch.ts";
import { type FeederWait, SlowNodes } from "./slow_nodes.ts";
import { RepairCrew } from "./repair_crew.ts";
import type { ResolvedServeOptions, ServeOptions } from "./serve_options.ts";
import { type FollowerHost, followNode } from "./node_follower.ts";
import { waitForStart } from "./start_trigger.ts";

export { DEFAULT_STALL_TIMEOUT_MS } from "./stall_detector.ts";
export type { ServeOptions } from "./serve_options.ts";
export type { JoinedNode } from "./node_session.ts";
export type { ServeEvent, ServeProgress } from "./serve_events.ts";

const log = logger("server");
const PING_INTERVAL_MS = 1000;
const PROGRESS_INTERVAL_MS = 1000;
/** A node that says its upstream broke while the upstream looks alive is relinked after this. */
const RELINK_GRACE_MS = 1000;
/** How often a server that no node has joined says so. */
export const IDLE_NOTICE_MS = 30_000;

/**
 * A deployment server. Create, {@link listen}, then {@link run}.
 *
 * @example Streaming a directory to the first eight nodes that join
 * ```ts ignore
 * import { Server } from "./serve.ts";
 *
 * const server = new Server({
 *   source: { kind: "dir", path: "/srv/golden", excludes: [], defaultExcludes: true },
 *   token: Deno.env.get("KAD_TOKEN")!,
 *   listen: { host: "0.0.0.0", port: 9997 },
 *   start: { clients: 8 },
 *   onEvent: (event) => event.type === "repaired" && console.log(event.repair),
 * });
 * await server.listen();
 * const report = await server.run();
 * ```
 */
export class Server {
  readonly #options: ResolvedServeOptions;
  readonly #sessions = new Map<string, NodeSession>();
  readonly #deployment = crypto.randomUUID();
  readonly #tokenKey: Uint8Array | null;
  readonly #stalls: StallWatch;
  /** Aborts the run: the operator's signal, or a node failure under `abortOnNodeFailure`. */
  readonly #abort = new AbortController();
  #abortReason: WireError = ABORTED;
  #admission: Admission | null = null;
  /** What is streamed, as nodes are told when they join. */
  #streamInfo: StreamInfo | null = null;
  /** When {@link listen} was called: phases are timed from here. */
  #listenedAt = performance.now();
  #late: LateJoins;
  #joinIndex = 0;
  #joinedWake: (() => void) | null = null;
  #coordinator: RepairCoordinator | null = null;
  #crew: RepairCrew | null = null;
  #feed: ServerFeed | null = null;
  readonly #verdicts = new Verdicts(
    (node) => this.#emit({ type: "node-done", node }),
    (name) => this.#coordinator?.upstreamOf(name) ?? "",
  );

  /** Creates a server; nothing happens until {@link listen}. */
  constructor(given: ServeOptions) {
    const options = this.#options = {
      ...given,
      timeoutMs: given.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      connectTimeoutMs: given.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      fanout: given.fanout ?? 1,
      order: given.order ?? "join",
      hash: given.hash ?? DEFAULT_HASH,
    };
    this.#tokenKey = options.token === null ? null : tokenKey(options.token);
    this.#late = new LateJoins(options.lateJoins ?? true, options.source, !!options.compression);
    const stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.#stalls = new StallWatch(stallMs, options.timeoutMs, this.#sessions);
    const onAbort = () => this.#abort.abort();
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
  }

  /** Checks the source, binds the control port and starts accepting nodes; returns the port. */
  async listen(): Promise<number> {
    const compression = this.#options.compression ?? null;
    if (compression !== null) requireZstd("--compress");
    this.#streamInfo = {
      ...await validateSource(this.#options.source),
      compression: compression === null ? null : compression.codec,
    };
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
      connectTimeoutMs: this.#options.connectTimeoutMs,
      decide: (introduction) => this.#decide(introduction),
      follow: (session) => (this.#late.accepted(session), followNode(session, this.#host)),
      onRefused: (refusal) => this.#emit({ type: "refused", refusal }),
    });
    this.#emit({ type: "listening", host: this.#options.listen.host, port, tls: tls !== null });
    return port;
  }

  /** Names of the nodes joined so far. */
  get joined(): string[] {
    return [...this.#sessions.keys()];
  }

  /** Waits for the start trigger, deploys, and returns the report. */
  async run(): Promise<DeploymentReport> {
    if (this.#admission === null) throw new ConfigError("Server.run() called before listen()");
    const pinger = setInterval(() => this.#broadcast(FrameType.PING, {}), PING_INTERVAL_MS);
    const waitingSince = performance.now();
    const idle = setInterval(() => {
      if (this.#late.isLate || this.#sessions.size > 0) return;
      this.#emit({ type: "idle", seconds: Math.round((performance.now() - waitingSince) / 1000) });
    }, this.#options.idleNoticeMs ?? IDLE_NOTICE_MS);
    try {
      const count = () => this.#sessions.size;
      await waitForStart(this.#options.start, count, (wake) => this.#joinedWake = wake, this.#abort.signal);
      this.#late.started();
      if (this.#abort.signal.aborted) {
        this.#broadcast(FrameType.ABORT, ABORTED);
        return this.#done(abortedReport(this.#facts(""), [...this.#sessions.values()]));
      }
      return await this.#deploy();
    } finally {
      this.#late.close();
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

  #emit(event: ServeEvent): void {
    this.#options.onEvent?.(event);
  }

  #done(report: DeploymentReport): DeploymentReport {
    this.#emit({ type: "done", report });
    return report;
  }

  #facts(source: string): RunFacts {
    return {
      deployment: this.#deployment,
      source,
      algorithm: this.#options.hash,
      fanout: this.#options.fanout,
      protection: this.#tokenKey === null ? "none" : (this.#options.tls ?? null) === null ? "sealed" : "tls",
      compression: this.#options.compression ? compressionName(this.#options.compression) : null,
    };
  }

  #broadcast(type: typeof FrameType.PING | typeof FrameType.ABORT, body: unknown): void {
    for (const session of this.#sessions.values()) session.control.send(type, body).catch(() => {});
  }

  async #deploy(): Promise<DeploymentReport> {
    const options = this.#options;
    const sessions = [...this.#sessions.values()];
    const plan = planTopology(
      sessions.map((s) => s.node),
      { fanout: options.fanout, order: options.order },
    );
    const coordinator = this.#coordinator = new RepairCoordinator(plan, {
      abortOnNodeFailure: options.abortOnNodeFailure ?? false,
      relinkGraceMs: RELINK_GRACE_MS,
      newKey: () => this.#tokenKey === null ? null : randomKey(),
    });
    const crew = this.#crew = new RepairCrew({
      deployment: this.#deployment,
      coordinator,
      sessions: this.#sessions,
      feed: () => this.#feed,
      emit: (event) => this.#emit(event),
      abort: (reason) => {
        if (this.#abort.signal.aborted || this.#verdicts.outcome !== null) return;
        this.#abortReason = reason;
        this.#abort.abort();
      },
    });
    const roster = this.#verdicts.roster = new Roster(plan.nodes);
    this.#emit({ type: "planned", plan });
    log.debug("Planned {count} nodes, fan-out {fanout}, heads {heads}", {
      count: plan.nodes.length,
      fanout: plan.fanout,
      heads: plan.heads.join(" "),
    });
    const source = await openSource(options.source, options.compression ?? null).catch((error) =>
      new FailedSource(options.source.kind, error)
    );
    // nodes heartbeat from the plan on: the stall detector, not each connection, judges silences
    for (const session of sessions) {
      session.control.idleTimeoutMs = 0;
      this.#stalls.watch(session.node.name, performance.now());
    }
    // DATA frames are sealed end to end under a key of this deployment's own (security/stream_seal.ts)
    const streamKey = this.#tokenKey === null ? null : randomKey();
    const stream = {
      hashAlgorithm: options.hash,
      streamBytes: source.size,
      frameBytes: options.slotBytes ?? DEFAULT_SLOT_BYTES,
    };
    await Promise.all(plan.nodes.map((planned) => {
      const session = this.#sessions.get(planned.name)!;
      return session.control.send(FrameType.PLAN, crew.plan(planned, plan.nodes.length, streamKey, stream))
        .catch((error) => this.#lose(session, { code: "NNF", message: describeError(error) }));
    }));
    const feed = this.#feed = new ServerFeed({
      ...options,
      deployment: this.#deployment,
      connectTimeoutMs: options.connectTimeoutMs,
      tlsCa: options.tls?.ca ?? null,
      streamKey,
    });
    const counter: ByteCounter = { bytes: 0 };
    const startedAt = performance.now();
    const slow = this.#options.slowNodes === "move" && !this.#options.compression ? new SlowNodes() : null;
    const progress = setInterval(() => {
      const seconds = (performance.now() - startedAt) / 1000;
      const sessions = [...this.#sessions.values()];
      if (slow !== null) this.#moveSlow(slow, sessions, feed);
      this.#emit({
        type: "progress",
        progress: progressOf(sessions, counter.bytes, source.size, seconds, roster.nodes.length),
      });
    }, PROGRESS_INTERVAL_MS);
    this.#stalls.start();
    try {
      const heads = plan.heads.map((name) => ({
        address: this.#sessions.get(name)!.node.address,
        key: coordinator.linkKey(SERVER_NAME, name),
      }));
      // an unreachable head is repaired around at once: the server feeds its children
      for (const { name, reason } of await feed.linkHeads(heads)) {
        this.#lose(this.#sessions.get(name)!, reason);
      }
      this.#late.open((session) => {
        const rejoin = roster.find(session.node.name) !== undefined;
        const planned = rejoin ? roster.rejoin(session.node.name) : roster.addLate(session.node.name);
        if (rejoin) this.#verdicts.reopen(planned.name);
        session.control.idleTimeoutMs = 0;
        this.#stalls.watch(planned.name, performance.now());
        this.#handle({ type: "joined-late", node: planned.name, rejoin });
        this.#emit({ type: "late-joined", node: planned, rejoin });
        session.control.send(FrameType.PLAN, crew.plan(planned, roster.nodes.length, streamKey, stream))
          .catch((error) => this.#lose(session, { code: "NNF", message: describeError(error) }));
      });
      const outcome = this.#verdicts.outcome = await feed.stream(
        source,
        counter,
        this.#abort.signal,
        () => this.#abortReason,
      );
      if (outcome.error !== null) {
        this.#late.close();
        this.#handle({ type: "stream-failed" });
        // when the heads died mid-stream (NWF) the nodes learn it from their own broken links
        if (outcome.error.code !== "NWF") this.#broadcast(FrameType.ABORT, outcome.error);
      }
      for (const session of this.#sessions.values()) if (session.report) this.#verdicts.announce(session);
      const onAbort = () => this.#broadcast(FrameType.ABORT, outcome.error ?? this.#abortReason);
      this.#abort.signal.addEventListener("abort", onAbort, { once: true });
      await roster.allEnded((name) => this.#sessions.get(name)!.ended); // late joiners may come meanwhile
      this.#late.close();
      this.#abort.signal.removeEventListener("abort", onAbort);
      for (const session of this.#sessions.values()) this.#verdicts.announce(session);
      const nodes = roster.nodes.map((n) =>
        this.#verdicts.result(this.#sessions.get(n.name)!, n.position, outcome)
      );
      const seconds = (performance.now() - startedAt) / 1000;
      return this.#done(
        deploymentReport(this.#facts(source.description), outcome, seconds, nodes, coordinator.repairs),
      );
    } finally {
      clearInterval(progress);
      this.#stalls.stop();
      await feed.settled();
      feed.close();
    }
  }

  /** Moves the nodes that hold the chain back off it (see slow_nodes.ts). */
  #moveSlow(slow: SlowNodes, sessions: NodeSession[], feed: ServerFeed): void {
    const topology = this.#coordinator?.topology;
    // only a source read again can feed a node on its own without holding the server's ring
    if (!topology || !feed.rereadable) return;
    const waits: FeederWait[] = [];
    const bytes = new Map<string, number>();
    for (const s of sessions) {
      if (s.report !== null || s.lost !== null) continue;
      bytes.set(s.node.name, s.lastBytes);
      if (s.blocked) waits.push({ feeder: s.node.name, blocked: s.blocked });
    }
    const server = feed.takeBlocked();
    if (server) waits.push({ feeder: SERVER_NAME, blocked: server });
    for (const node of slow.look(performance.now(), waits, bytes, (name) => topology.childrenOf(name))) {
      const message = "it held the chain back: its upstream waited for it, at under half the best rate";
      log.debug("{node} is slow: {message}", { node, message });
      this.#handle({ type: "slow", node, reason: { code: "NWF", message } });
    }
  }

  /** Feeds an event to the repair coordinator, whose decisions the crew carries out. */
  #handle(event: CoordinatorEvent): void {
    this.#crew?.handle(event);
  }

  /**
   * The deployment's decision on a node that introduced itself: admitted under its name (or, for a
   * default name that is taken, a unique one), or refused. Synchronous: names are reserved at once.
   */
  #decide(intro: Introduction): AdmissionDecision {
    const { hello } = intro;
    const resumeFrom = this.#rejoinFrom(hello);
    const late = resumeFrom === null
      ? this.#late.refusal(hello.name, this.#feed?.canFeedFrom(0) ?? null)
      : null;
    if (late !== null) return { refuse: "REFUSED", message: late };
    const mismatch = sinkMismatch(hello.sink, this.#streamInfo!, hello.features);
    if (mismatch !== null) return { refuse: "REFUSED", message: mismatch };
    let name = hello.name;
    if (resumeFrom === null && this.#sessions.has(name)) {
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
      rack: this.#options.racks?.get(name) ?? hello.labels.rack,
    };
    const session = new NodeSession(
      node,
      intro.control,
      intro.sealKey,
      hello.features.includes(POST_INSTALL_FEATURE),
    );
    this.#sessions.set(name, session);
    this.#late.admit(name);
    for (const note of hello.phases) this.#phase(session, note, true);
    this.#phase(session, { phase: JOINED_PHASE, detail: `from ${intro.remote.hostname}` }, true);
    this.#emit({
      type: "joined",
      node,
      count: this.#sessions.size,
      renamedFrom: name === hello.name ? null : hello.name,
    });
    this.#joinedWake?.();
    return {
      session,
      accept: {
        deployment: this.#deployment,
        joinIndex: node.joinIndex,
        name,
        stream: this.#streamInfo!,
        resumeFrom,
      },
    };
  }

  /**
   * A member lost before its report, back under its name (restarted, rebooted): where it resumes —
   * the bytes it says it holds of this deployment when the server can feed it from there, else 0 —
   * or null when it is not one, or cannot be fed.
   */
  #rejoinFrom(hello: HelloMessage): number | null {
    const old = this.#sessions.get(hello.name);
    const feed = this.#feed;
    if (!old || old.lost === null || old.report !== null || feed === null) return null;
    if (!this.#verdicts.roster?.find(hello.name) || !this.#late.takesReturns) {
      return null;
    }
    // a compressed stream's offsets are not the copy's: a node is fed it from the start again
    const resumable = hello.resume?.deployment === this.#deployment && !this.#options.compression;
    const offset = resumable ? hello.resume!.offset : 0;
    return feed.canFeedFrom(offset) ? offset : feed.canFeedFrom(0) ? 0 : null;
  }

  /** What the server does with what a node says on its control connection (node_follower.ts). */
  readonly #host: FollowerHost = {
    heard: (session, streaming) => this.#stalls.heard(session.node.name, performance.now(), streaming),
    phase: (session, note, ok) => this.#phase(session, note, ok),
    repair: (event) => {
      if (event.type === "upstream-lost") {
        log.debug("{node} lost its upstream {upstream}: {code}: {message}", { ...event, ...event.reason });
      }
      this.#handle(event);
    },
    reported: (session) => {
      const name = session.node.name;
      if (session.postInstall !== "running") this.#stalls.forget(name);
      this.#verdicts.announce(session);
      const ok = session.report?.status === "ok";
      this.#handle({
        type: "reported",
        node: name,
        error: ok ? null : session.report?.error ?? { code: "NRF", message: `${name} failed` },
      });
    },
    postInstallEnded: (session) => {
      this.#stalls.forget(session.node.name);
      this.#verdicts.announce(session);
    },
    gone: (session) => {
      const name = session.node.name;
      if (this.#late.isLate) return this.#lose(session, session.lost!);
      this.#sessions.delete(name);
      this.#emit({ type: "left", name, count: this.#sessions.size, reason: session.lost!.message });
      this.#joinedWake?.();
    },
  };

  /** Records a phase of a node and tells the listener. */
  #phase(session: NodeSession, note: PhaseNote | PhaseMessage, ok: boolean): void {
    const record = session.addPhase(note, ok, (performance.now() - this.#listenedAt) / 1000);
    if (record !== null) this.#emit({ type: "phase", name: session.node.name, phase: record });
  }

  /** A node is gone before its report: its repair follows (once streaming started). */
  #lose(session: NodeSession, error: WireError): void {
    this.#stalls.forget(session.node.name);
    session.lost ??= error;
    session.control.close();
    session.finish();
    this.#handle({ type: "node-lost", node: session.node.name, reason: session.lost });
  }
}
