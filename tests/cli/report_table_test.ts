import { renderReport } from "../../cli/report_table.ts";
import type { DeploymentReport, NodeResult } from "../../lib/report/report.ts";
import type { PhaseRecord } from "../../lib/report/phase.ts";
import { assert, assertMatch } from "../_helpers/assert.ts";

function node(name: string, phases: string[], failed = false): NodeResult {
  const records: PhaseRecord[] = phases.map((phase, i) => ({
    phase,
    ok: !(failed && i === phases.length - 1),
    detail: "",
    at: i,
  }));
  return {
    name,
    address: "10.0.0.1:4000",
    position: 0,
    upstream: "server",
    status: failed ? "failed" : "ok",
    error: failed ? { code: "POST", message: "post-install exited with status 3" } : null,
    bytes: 10,
    hash: "ab",
    seconds: 1,
    rssBytes: null,
    cpuSeconds: null,
    phases: records,
  };
}

function report(nodes: NodeResult[]): DeploymentReport {
  return {
    version: 1,
    deployment: "d",
    source: "s",
    bytes: 10,
    hash: "ab",
    algorithm: "xxh128",
    fanout: 1,
    protection: "sealed",
    compression: null,
    rawBytes: null,
    seconds: 1,
    error: null,
    nodes,
    repairs: [],
  };
}

Deno.test("report table: a PHASES column when nodes told of their own phases, a failed one marked with !", () => {
  const text = renderReport(
    report([
      node("vm-one", ["booted", "partitioned", "joined", "received", "configured", "post-install"]),
      node("vm-two", ["booted", "joined", "received", "configured", "post-install"], true),
    ]),
    false,
  );
  assertMatch(text, /PHASES/);
  assertMatch(text, /vm-one .* booted partitioned received configured post-install$/m);
  assertMatch(text, /vm-two .* POST .* booted received configured post-install! +post-install exited/);
});

Deno.test("report table: no PHASES column for plain deployments (only joined and received)", () => {
  const text = renderReport(report([node("n1", ["joined", "received"])]), false);
  assert(!text.includes("PHASES"), text);
});

Deno.test("report table: a compressed deployment's summary gives the source's bytes, the wire's, and the ratio", () => {
  const compressed = { ...report([node("n1", ["joined", "received"])]), bytes: 4_000_000 };
  const text = renderReport({ ...compressed, compression: "zstd:3", rawBytes: 9_000_000 }, false);
  assertMatch(text, /^zstd:3: 9\.0 MB of source in 4\.0 MB on the wire \(ratio 2\.25\)$/m);
  assert(!renderReport(compressed, false).includes("on the wire"));
});
