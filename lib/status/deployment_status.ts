/**
 * A running deployment's status, as the live page, `GET /status.json`, `--status-file` and the
 * terminal show it: one row per node (where it sits, what phase it is in, how far and how fast it
 * is, how far behind the source) and the throughput over time. A {@link StatusBoard} builds it from
 * the server's events; a node's final row comes from its verdict in the report ({@link NodeResult}),
 * so the page and the report never disagree on a node.
 *
 * @module
 */

import type { WireError } from "../protocol/messages.ts";
import { JOINED_PHASE } from "../report/phase.ts";
import type { NodeResult, RepairRecord } from "../report/report.ts";
import type { ServeEvent, ServeProgress } from "../server/serve_events.ts";
import { roundSeconds } from "../time/seconds.ts";
import type { PlannedNode } from "../topology/planner.ts";

/**
 * Where a node is: joined and waiting for the start, streaming, or — once known — its verdict from
 * the report ("ok" only for a verified, identical copy).
 */
export type NodeState = "joined" | "streaming" | NodeResult["status"];

/** One node's row. */
export interface NodeStatus {
  /** Node name. */
  name: string;
  /** Its data address "host:port". */
  address: string;
  /** Position in the plan, from 1; null before the start. */
  position: number | null;
  /** Its upstream (a node or "server"), the one a repair moved it under when repaired; null before the start. */
  upstream: string | null;
  /** Where it is. */
  state: NodeState;
  /** The last phase it went through ("joined", "streaming", "received", or one it announced). */
  phase: string;
  /** Stream bytes it holds. */
  bytes: number;
  /** Its rate over the last seconds, in bytes per second. */
  rate: number;
  /** Bytes it is behind the source. */
  lagBytes: number;
  /** Why it failed, or null. */
  error: WireError | null;
  /** True when a repair moved it under a new upstream. */
  repaired: boolean;
}

/** One point of the throughput chart. */
export interface ThroughputSample {
  /** Seconds since the server started. */
  t: number;
  /** Bytes the source had sent. */
  bytes: number;
  /** Bytes the slowest running node held. */
  slowestBytes: number;
}

/** The deployment's status at one moment. */
export interface DeploymentStatus {
  /** Format version. */
  version: 1;
  /** Seconds since the server started, 3 decimals. */
  t: number;
  /** Waiting for nodes, streaming, or done (with a verdict). */
  state: "waiting" | "streaming" | "done";
  /** Fan-out of the topology (1 = chain); null before the start. */
  fanout: number | null;
  /** Bytes the source sent. */
  bytes: number;
  /** The stream's size when known (else null). */
  totalBytes: number | null;
  /**
   * When the size is not known: an estimate from a quick scan of a directory source (its files'
   * bytes and tar's headers), else null.
   */
  estimatedBytes: number | null;
  /** Seconds since streaming started. */
  seconds: number;
  /** The source's rate over the last seconds, in bytes per second. */
  rate: number;
  /** The nodes, by position (then by joining order before the start). */
  nodes: NodeStatus[];
  /** Repairs so far. */
  repairs: RepairRecord[];
  /** Throughput over time, oldest first, at most {@link MAX_SAMPLES} points. */
  samples: ThroughputSample[];
  /** Once done: nodes with a verified copy and failed ones; `allOk` as `kad serve`'s exit code 0 means it. */
  verdict: { ok: number; failed: number; allOk: boolean; error: WireError | null } | null;
}

/** The phase a node is in from the start of the stream until it tells another. */
export const STREAMING_PHASE = "streaming";
/** Points the throughput chart keeps; older ones are merged two by two to make room. */
export const MAX_SAMPLES = 600;
/** Weight of the newest interval in a rate (an exponential moving average). */
const RATE_WEIGHT = 0.5;

/**
 * Builds a deployment's status from its server's events.
 *
 * @example Watching a deployment from a program
 * ```ts
 * import { StatusBoard } from "./deployment_status.ts";
 *
 * const startedAt = performance.now();
 * const board = new StatusBoard(() => (performance.now() - startedAt) / 1000);
 * // new Server({ …, onEvent: (event) => board.apply(event) })
 * board.apply({
 *   type: "joined",
 *   node: { name: "n1", address: { name: "n1", host: "10.0.0.11", port: 4000 }, joinIndex: 0 },
 *   count: 1,
 *   renamedFrom: null,
 * });
 * const status = board.snapshot();
 * console.assert(status.state === "waiting" && status.nodes[0].state === "joined");
 * ```
 */
export class StatusBoard {
  readonly #clock: () => number;
  readonly #nodes = new Map<string, NodeStatus>();
  #state: DeploymentStatus["state"] = "waiting";
  #fanout: number | null = null;
  #bytes = 0;
  #totalBytes: number | null = null;
  #estimatedBytes: number | null = null;
  #seconds = 0;
  #rate = 0;
  #lastAt: number | null = null;
  #repairs: RepairRecord[] = [];
  #samples: ThroughputSample[] = [];
  #verdict: DeploymentStatus["verdict"] = null;
  #version = 0;

  /** `clock`: seconds since the server started. */
  constructor(clock: () => number) {
    this.#clock = clock;
  }

  /** Grows with every change: a reader can tell whether there is anything new. */
  get version(): number {
    return this.#version;
  }

  /** The stream should be about `bytes` long (a directory's quick scan). */
  estimate(bytes: number): void {
    this.#estimatedBytes = bytes;
    this.#version++;
  }

  /** Takes in one server event. */
  apply(event: ServeEvent): void {
    this.#version++;
    switch (event.type) {
      case "joined": {
        const { name, address } = event.node;
        this.#nodes.set(name, newNode(name, `${address.host}:${address.port}`));
        return;
      }
      case "left":
        this.#nodes.delete(event.name);
        return;
      case "planned":
        this.#state = "streaming";
        this.#fanout = event.plan.fanout;
        for (const planned of event.plan.nodes) this.#place(planned);
        return;
      case "late-joined":
        return this.#place(event.node);
      case "progress":
        return this.#progress(event.progress);
      case "phase": {
        const node = this.#nodes.get(event.name);
        if (node) node.phase = event.phase.phase;
        return;
      }
      case "node-lost": {
        const node = this.#nodes.get(event.name);
        if (node) Object.assign(node, { state: "failed", error: event.error, rate: 0 });
        return;
      }
      case "repaired": {
        this.#repairs.push(event.repair);
        const child = this.#nodes.get(event.repair.child);
        if (child && event.repair.error === null) {
          child.upstream = event.repair.upstream;
          child.repaired = true;
        }
        return;
      }
      case "node-done":
        return this.#settle(event.node);
      case "done": {
        const { report } = event;
        this.#repairs = [...report.repairs];
        for (const node of report.nodes) this.#settle(node);
        this.#bytes = report.bytes;
        this.#seconds = report.seconds;
        const ok = report.nodes.filter((n) => n.status === "ok").length;
        const failed = report.nodes.length - ok;
        const allOk = report.error === null && ok > 0 && failed === 0;
        this.#verdict = { ok, failed, allOk, error: report.error };
        this.#state = "done";
        this.#rate = 0;
        return;
      }
      default:
        this.#version--; // nothing the status shows
    }
  }

  /** The status now. */
  snapshot(): DeploymentStatus {
    const nodes = [...this.#nodes.values()].map((n) => ({ ...n }));
    nodes.sort((a, b) => (a.position ?? Infinity) - (b.position ?? Infinity));
    for (const node of nodes) {
      node.lagBytes = Math.max(0, this.#bytes - node.bytes);
      node.rate = Math.round(node.rate);
    }
    return {
      version: 1,
      t: roundSeconds(this.#clock()),
      state: this.#state,
      fanout: this.#fanout,
      bytes: this.#bytes,
      totalBytes: this.#totalBytes,
      estimatedBytes: this.#totalBytes === null && this.#state !== "done" ? this.#estimatedBytes : null,
      seconds: roundSeconds(this.#seconds),
      rate: Math.round(this.#rate),
      nodes,
      repairs: [...this.#repairs],
      samples: [...this.#samples],
      verdict: this.#verdict,
    };
  }

  #progress(progress: ServeProgress): void {
    const t = this.#clock();
    const interval = this.#lastAt === null ? 0 : t - this.#lastAt;
    this.#lastAt = t;
    const rateOf = (before: number, now: number, rate: number) =>
      interval > 0 ? RATE_WEIGHT * ((now - before) / interval) + (1 - RATE_WEIGHT) * rate : rate;
    this.#rate = rateOf(this.#bytes, progress.bytes, this.#rate);
    this.#bytes = progress.bytes;
    this.#totalBytes = progress.totalBytes;
    this.#seconds = progress.seconds;
    for (const { name, bytes } of progress.nodes) {
      const node = this.#nodes.get(name);
      if (!node || node.state !== "streaming") continue;
      node.rate = rateOf(node.bytes, bytes, node.rate);
      node.bytes = bytes;
    }
    this.#sample({ t: roundSeconds(t), bytes: progress.bytes, slowestBytes: progress.slowestNodeBytes });
  }

  /** A node takes its place in the stream. */
  #place(planned: PlannedNode): void {
    const node = this.#nodes.get(planned.name);
    if (!node) return;
    node.position = planned.position;
    node.upstream = planned.upstream;
    node.state = "streaming";
    node.error = null; // a member come back streams again
    if (node.phase === JOINED_PHASE) node.phase = STREAMING_PHASE;
  }

  /** A node's verdict: its final row. */
  #settle(result: NodeResult): void {
    const node = this.#nodes.get(result.name) ?? newNode(result.name, result.address);
    this.#nodes.set(result.name, node);
    // a node lost without a report has no count of its own there: its row keeps the last one it told
    const bytes = result.status === "failed" ? Math.max(result.bytes, node.bytes) : result.bytes;
    const last = result.phases.at(-1)?.phase;
    Object.assign(node, {
      position: result.position,
      upstream: result.upstream,
      state: result.status,
      bytes,
      rate: result.seconds > 0 ? result.bytes / result.seconds : 0,
      error: result.error,
      phase: last === undefined || last === JOINED_PHASE ? node.phase : last,
    });
    node.repaired ||= this.#repairs.some((r) => r.child === result.name && r.error === null);
  }

  #sample(sample: ThroughputSample): void {
    const samples = this.#samples;
    samples.push(sample);
    if (samples.length <= MAX_SAMPLES) return;
    // halve the resolution of the whole history: a long run keeps its shape in bounded memory
    this.#samples = samples.filter((_, i) => i % 2 === 0 || i === samples.length - 1);
  }
}

function newNode(name: string, address: string): NodeStatus {
  return {
    name,
    address,
    position: null,
    upstream: null,
    state: "joined",
    phase: JOINED_PHASE,
    bytes: 0,
    rate: 0,
    lagBytes: 0,
    error: null,
    repaired: false,
  };
}
