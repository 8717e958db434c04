/**
 * The deployment report: one verified verdict per node, written as JSON by `--report` and printed
 * as a table by the CLI.
 *
 * @module
 */

import type { ErrorCode } from "../errors.ts";
import type { ReportMessage, WireError } from "../protocol/messages.ts";
import type { PhaseRecord } from "./phase.ts";

/** One node's verdict. */
export interface NodeResult {
  /** Node name. */
  name: string;
  /** Data address "host:port". */
  address: string;
  /** Position in the plan, from 1 (1 is fed by the server). */
  position: number;
  /** Name of its upstream at the end: the planned one, or the one a repair moved it under. */
  upstream: string;
  /** "ok" only for a verified, identical copy. */
  status: "ok" | "failed";
  /** Why it failed, or null. */
  error: WireError | null;
  /** Bytes the node received. */
  bytes: number;
  /** Hash of what it received. */
  hash: string;
  /** Seconds the node spent receiving and writing. */
  seconds: number;
  /** The node's peak resident memory in bytes, when it said. */
  rssBytes: number | null;
  /** CPU seconds the node's process used, when it said. */
  cpuSeconds: number | null;
  /**
   * Its phases, oldest first: "joined" and "received" recorded by the server, the others as the
   * node announced them (`kad join --phase`, `kad-phase:` lines of its post-install step, then
   * "post-install" saying how that step ended).
   */
  phases: PhaseRecord[];
}

/** How a deployment's stream was protected on the wire. */
export type StreamProtection = "sealed" | "tls" | "none";

/** The whole run. */
export interface DeploymentReport {
  /** Report format version. */
  version: 1;
  /** Deployment identifier. */
  deployment: string;
  /** What was streamed. */
  source: string;
  /** Total bytes the source produced. */
  bytes: number;
  /** Hash of the stream. */
  hash: string;
  /** Hash algorithm. */
  algorithm: string;
  /** Fan-out of the topology (1 = chain). */
  fanout: number;
  /**
   * How the stream was protected on the wire: "sealed" (join token; every frame sealed by the
   * source and checked by every node), "tls" (sealed, inside TLS) or "none" (`--insecure`).
   */
  protection: StreamProtection;
  /** The compression at the source (`kad serve --compress`), e.g. "zstd:3"; null when none. */
  compression: string | null;
  /**
   * On a compressed stream, the source's own bytes (what every sink got), where `bytes` counts
   * what crossed the wire; null when not compressed.
   */
  rawBytes: number | null;
  /** Wall-clock seconds from start of streaming to the last report. */
  seconds: number;
  /** The source's failure, if it failed. */
  error: WireError | null;
  /** Per-node verdicts, by position. */
  nodes: NodeResult[];
  /** Repairs around failed nodes and broken links, in the order they were decided. */
  repairs: RepairRecord[];
}

/** One repair: a node moved under a new upstream, which resent what it lacked. */
export interface RepairRecord {
  /** What failed: a node's name, or a link "upstream→child". */
  failed: string;
  /** The node that lost its upstream. */
  child: string;
  /** Its new upstream (a node or "server"). */
  upstream: string;
  /** Stream offset the child resumed from, when it got that far. */
  offset: number | null;
  /** Bytes the new upstream resent from its ring or the source. */
  resentBytes: number;
  /** Seconds from the decision to the child being fed again (or given up). */
  seconds: number;
  /** Why the repair failed, or null. */
  error: WireError | null;
}

/** The source's final numbers, or its failure. */
export interface SourceOutcome {
  /** Bytes sent. */
  bytes: number;
  /** On a compressed stream, the source's bytes before compression. */
  rawBytes?: number | null;
  /** Hash of the bytes sent. */
  hash: string;
  /** Set when the source failed or the run was aborted. */
  error: WireError | null;
}

/**
 * Decides a node's verdict from its own report and the source's numbers. The server checks again
 * what the node claims: a node is ok only if the source succeeded and its count and hash match.
 */
export function judgeNode(
  report: ReportMessage | null,
  source: SourceOutcome,
  missing: WireError,
): Pick<NodeResult, "status" | "error" | "bytes" | "hash" | "seconds" | "rssBytes" | "cpuSeconds"> {
  if (report === null) {
    return {
      status: "failed",
      error: missing,
      bytes: 0,
      hash: "",
      seconds: 0,
      rssBytes: null,
      cpuSeconds: null,
    };
  }
  const base = {
    bytes: report.bytes,
    hash: report.hash,
    seconds: report.seconds,
    rssBytes: report.rssBytes ?? null,
    cpuSeconds: report.cpuSeconds ?? null,
  };
  const fail = (code: ErrorCode, message: string) => ({
    ...base,
    status: "failed" as const,
    error: { code, message },
  });
  if (report.status !== "ok") {
    return {
      ...base,
      status: "failed",
      error: report.error ?? { code: "NRF", message: "Node reported a failure" },
    };
  }
  if (source.error) return fail(source.error.code, source.error.message);
  if (report.bytes !== source.bytes) {
    return fail("BBC", `Received ${report.bytes} bytes, the source sent ${source.bytes}`);
  }
  if (report.hash !== source.hash) {
    return fail("HASH", "Hash of the received stream differs from the source's");
  }
  return { ...base, status: "ok", error: null };
}

/** Counts of ok and failed nodes. */
export function summarize(report: DeploymentReport): { ok: number; failed: number } {
  const ok = report.nodes.filter((n) => n.status === "ok").length;
  return { ok, failed: report.nodes.length - ok };
}

/**
 * True when the source succeeded and every node holds a verified copy.
 *
 * @param report A deployment's report (the server's `run()`, or a `--report` file).
 * @returns Whether the deployment succeeded everywhere: what `kad serve`'s exit code 0 means.
 * @example Reading a report written by `kad serve --report`
 * ```ts
 * import { allOk, type DeploymentReport, summarize } from "./report.ts";
 *
 * const report: DeploymentReport = {
 *   version: 1, deployment: "d", source: "tar of /srv/golden", bytes: 10, hash: "ab",
 *   algorithm: "xxh128", fanout: 1, protection: "sealed", compression: null, rawBytes: null,
 *   seconds: 1, error: null, repairs: [],
 *   nodes: [{
 *     name: "n1", address: "10.0.0.11:4000", position: 1, upstream: "server", status: "ok",
 *     error: null, bytes: 10, hash: "ab", seconds: 1, rssBytes: null, cpuSeconds: null, phases: [],
 *   }],
 * };
 * console.assert(allOk(report) && summarize(report).ok === 1);
 * ```
 */
export function allOk(report: DeploymentReport): boolean {
  return report.error === null && report.nodes.length > 0 && report.nodes.every((n) => n.status === "ok");
}

/** The node with the lowest throughput among those that received bytes, or null. */
export function slowestNode(report: DeploymentReport): NodeResult | null {
  const moving = report.nodes.filter((n) => n.bytes > 0 && n.seconds > 0);
  return moving.reduce<NodeResult | null>(
    (slow, n) => slow === null || nodeRate(n) < nodeRate(slow) ? n : slow,
    null,
  );
}

/** Throughput of a node in MB/s (10^6 bytes), 0 when unknown. */
export function nodeRate(node: NodeResult): number {
  return node.seconds > 0 ? node.bytes / node.seconds / 1e6 : 0;
}
