import { allOk, type DeploymentReport, judgeNode, slowestNode, summarize } from "../../lib/report/report.ts";
import type { ReportMessage } from "../../lib/protocol/messages.ts";
import { assertEquals } from "../_helpers/assert.ts";

const source = { bytes: 100, hash: "aa", error: null };
const missing = { code: "NNF" as const, message: "gone" };
const okReport: ReportMessage = { status: "ok", error: null, bytes: 100, hash: "aa", seconds: 1, links: [] };

Deno.test("report: a node is ok only when its count and hash match the source's", () => {
  assertEquals(judgeNode(okReport, source, missing).status, "ok");
  assertEquals(judgeNode({ ...okReport, bytes: 99 }, source, missing).error?.code, "BBC");
  assertEquals(judgeNode({ ...okReport, hash: "ab" }, source, missing).error?.code, "HASH");
});

Deno.test("report: a node that claims ok while the source failed is failed with the source's code", () => {
  const failed = { ...source, error: { code: "LRF" as const, message: "tar -c exited with status 2" } };
  assertEquals(judgeNode(okReport, failed, missing).error?.code, "LRF");
});

Deno.test("report: a node's own failure is kept; a silent node gets the missing code", () => {
  const lwf = { code: "LWF" as const, message: "tar -x exited with status 2: Cannot open" };
  assertEquals(judgeNode({ ...okReport, status: "failed", error: lwf }, source, missing).error, lwf);
  assertEquals(judgeNode(null, source, missing), {
    status: "failed",
    error: missing,
    bytes: 0,
    hash: "",
    seconds: 0,
    rssBytes: null,
    cpuSeconds: null,
  });
});

Deno.test("report: summary counts and allOk", () => {
  const node = {
    name: "a",
    address: "h:1",
    position: 0,
    upstream: "server",
    bytes: 1,
    hash: "",
    seconds: 1,
    rssBytes: null,
    cpuSeconds: null,
    phases: [],
  };
  const report: DeploymentReport = {
    version: 1,
    deployment: "d",
    source: "s",
    bytes: 1,
    hash: "",
    algorithm: "xxh128",
    fanout: 1,
    protection: "sealed",
    compression: null,
    rawBytes: null,
    seconds: 1,
    error: null,
    nodes: [{ ...node, status: "ok", error: null }, { ...node, name: "b", status: "failed", error: missing }],
    repairs: [],
  };
  assertEquals(summarize(report), { ok: 1, failed: 1 });
  assertEquals(allOk(report), false);
  assertEquals(allOk({ ...report, nodes: [report.nodes[0]] }), true);
  assertEquals(allOk({ ...report, nodes: [] }), false);
});

Deno.test("report: the slowest node is the one with the lowest throughput", () => {
  const mk = (name: string, seconds: number) => ({
    name,
    address: "h:1",
    position: 0,
    upstream: "server",
    bytes: 100,
    hash: "",
    seconds,
    rssBytes: null,
    cpuSeconds: null,
    phases: [],
    status: "ok" as const,
    error: null,
  });
  const report: DeploymentReport = {
    version: 1,
    deployment: "d",
    source: "s",
    bytes: 100,
    hash: "",
    algorithm: "xxh128",
    fanout: 1,
    protection: "sealed",
    compression: null,
    rawBytes: null,
    seconds: 1,
    error: null,
    nodes: [mk("a", 1), mk("b", 3), mk("c", 2)],
    repairs: [],
  };
  assertEquals(slowestNode(report)?.name, "b");
});
