/**
 * What a server tells its caller while it runs: joins and refusals, the plan, progress, losses and
 * repairs, each node's verdict, the report. The CLI renders them (lines on stderr, JSON on stdout).
 *
 * @module
 */

import type { WireError } from "../protocol/messages.ts";
import type { PhaseRecord } from "../report/phase.ts";
import type { DeploymentReport, NodeResult, RepairRecord } from "../report/report.ts";
import type { Plan, PlannedNode } from "../topology/planner.ts";
import type { Refusal } from "./admission.ts";
import type { JoinedNode, NodeSession } from "./node_session.ts";
import { roundSeconds } from "../time/seconds.ts";

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
  /** Each joined node's bytes: what it last said it holds. */
  nodes: NodeProgress[];
}

/** How far one node is. */
export interface NodeProgress {
  /** Node name. */
  name: string;
  /** Stream bytes it holds. */
  bytes: number;
}

/** Progress from the source's count and the nodes' sessions (the planned ones, `nodeCount` of them). */
export function progressOf(
  sessions: readonly NodeSession[],
  sourceBytes: number,
  totalBytes: number | null,
  seconds: number,
  nodeCount: number,
): ServeProgress {
  const running = sessions.filter((s) => s.report === null && s.lost === null);
  const done = sessions.filter((s) => s.report?.status === "ok").length;
  return {
    bytes: sourceBytes,
    totalBytes,
    seconds: roundSeconds(seconds),
    slowestNodeBytes: running.length ? Math.min(...running.map((s) => s.lastBytes)) : sourceBytes,
    nodesDone: done,
    nodesFailed: nodeCount - running.length - done,
    nodeCount,
    nodes: sessions.map((s) => ({ name: s.node.name, bytes: s.lastBytes })),
  };
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
  /** Still no node joined, `seconds` after listening. */
  | { type: "idle"; seconds: number }
  | { type: "refused"; refusal: Refusal }
  | { type: "planned"; plan: Plan }
  /**
   * A node that joined after the start took its place: the server feeds it from the first byte — or,
   * for a member come back (`rejoin`: restarted after it was lost), from what it still holds.
   */
  | { type: "late-joined"; node: PlannedNode; rejoin: boolean }
  /**
   * The server feeds a late joiner: from `offset`, `resent` bytes behind the source (from its ring
   * or its source read again), or it could not (`error`).
   */
  | { type: "grafted"; name: string; offset: number | null; resent: number; error: WireError | null }
  | { type: "progress"; progress: ServeProgress }
  | { type: "node-done"; node: NodeResult }
  | { type: "node-lost"; name: string; error: WireError }
  /** A slow node moved off the chain (from under `from`): the server feeds it from its source read again. */
  | { type: "node-moved"; name: string; from: string; reason: WireError }
  | { type: "phase"; name: string; phase: PhaseRecord }
  | { type: "repaired"; repair: RepairRecord }
  | { type: "done"; report: DeploymentReport };
