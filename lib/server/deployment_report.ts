/**
 * The server's verdicts: one per node (its own report checked against the source's numbers, its
 * post-install step, its phases), and the deployment's report that gathers them.
 *
 * @module
 */

import { roundSeconds } from "../time/seconds.ts";
import type { HashAlgorithm } from "../integrity/stream_hash.ts";
import type { WireError } from "../protocol/messages.ts";
import {
  type DeploymentReport,
  judgeNode,
  type NodeResult,
  type RepairRecord,
  type SourceOutcome,
  type StreamProtection,
} from "../report/report.ts";
import type { NodeSession } from "./node_session.ts";

/** A deployment interrupted before it started. */
export const ABORTED: WireError = { code: "ABORT", message: "Deployment interrupted by the operator" };

/** The verdict on one node, at `position` under `upstream`, given the source's outcome. */
export function nodeResult(
  session: NodeSession,
  position: number,
  upstream: string,
  outcome: SourceOutcome,
): NodeResult {
  const verdict = judgeNode(
    session.report,
    outcome,
    session.lost ?? { code: "NNF", message: "Node vanished before reporting" },
  );
  const postInstallFailed = verdict.status === "ok" && session.postInstallError !== null;
  return {
    name: session.node.name,
    address: `${session.node.address.host}:${session.node.address.port}`,
    position,
    upstream,
    ...verdict,
    seconds: roundSeconds(verdict.seconds),
    ...(postInstallFailed ? { status: "failed" as const, error: session.postInstallError } : {}),
    phases: [...session.phases],
  };
}

/** What every deployment report says about the run itself. */
export interface RunFacts {
  /** Deployment identifier. */
  deployment: string;
  /** What was streamed. */
  source: string;
  /** Stream hash algorithm. */
  algorithm: HashAlgorithm;
  /** Children per node. */
  fanout: number;
  /** How the stream was protected. */
  protection: StreamProtection;
  /** The compression at the source ("zstd:3"), or null. */
  compression: string | null;
}

/** The deployment's report. */
export function deploymentReport(
  facts: RunFacts,
  outcome: SourceOutcome,
  seconds: number,
  nodes: NodeResult[],
  repairs: readonly RepairRecord[],
): DeploymentReport {
  return {
    version: 1,
    deployment: facts.deployment,
    source: facts.source,
    bytes: outcome.bytes,
    hash: outcome.hash,
    algorithm: facts.algorithm,
    fanout: facts.fanout,
    protection: facts.protection,
    compression: facts.compression,
    rawBytes: outcome.rawBytes ?? null,
    seconds: roundSeconds(seconds),
    error: outcome.error,
    nodes,
    repairs: [...repairs],
  };
}

/** The report of a deployment interrupted before it started: every node that joined failed ABORT. */
export function abortedReport(facts: RunFacts, sessions: readonly NodeSession[]): DeploymentReport {
  return deploymentReport(
    facts,
    { bytes: 0, hash: "", error: ABORTED },
    0,
    sessions.map((s, index) => ({
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
    [],
  );
}
