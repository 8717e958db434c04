import type { NodeResult, RepairRecord } from "../../lib/report/report.ts";
import type { ServeEvent, ServeProgress } from "../../lib/server/serve_events.ts";
import { MAX_SAMPLES, StatusBoard } from "../../lib/status/deployment_status.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

/** A board on a clock the spec moves. */
function board(): { board: StatusBoard; at: (t: number) => void } {
  let now = 0;
  return { board: new StatusBoard(() => now), at: (t) => now = t };
}

function joined(name: string, index: number): ServeEvent {
  const node = { name, address: { name, host: "10.0.0.1", port: 4000 + index }, joinIndex: index };
  return { type: "joined", node, count: index + 1, renamedFrom: null };
}

function planned(names: string[]): ServeEvent {
  const nodes = names.map((name, i) => ({
    name,
    position: i + 1,
    upstream: i === 0 ? "server" : names[i - 1],
    children: i + 1 < names.length ? [names[i + 1]] : [],
  }));
  return { type: "planned", plan: { nodes, heads: [names[0]], fanout: 1, racks: [] } };
}

function progress(bytes: number, nodes: Record<string, number>, seconds: number): ServeEvent {
  const list = Object.entries(nodes).map(([name, b]) => ({ name, bytes: b }));
  const p: ServeProgress = {
    bytes,
    totalBytes: 100e6,
    seconds,
    slowestNodeBytes: Math.min(...list.map((n) => n.bytes)),
    nodesDone: 0,
    nodesFailed: 0,
    nodeCount: list.length,
    nodes: list,
  };
  return { type: "progress", progress: p };
}

function result(name: string, position: number, upstream: string, ok: boolean): NodeResult {
  return {
    name,
    address: `10.0.0.1:${4000 + position}`,
    position,
    upstream,
    status: ok ? "ok" : "failed",
    error: ok ? null : { code: "NNF", message: "gone" },
    bytes: ok ? 100e6 : 0,
    hash: ok ? "h" : "",
    seconds: 10,
    rssBytes: null,
    cpuSeconds: null,
    phases: [
      { phase: "joined", ok: true, detail: "", at: 0.1 },
      ...(ok ? [{ phase: "received", ok, detail: "", at: 9 }] : []),
    ],
  };
}

Deno.test("status: joined nodes wait in joining order; the plan places them and starts the stream", () => {
  const { board: b } = board();
  b.apply(joined("b", 0));
  b.apply(joined("a", 1));
  let s = b.snapshot();
  assertEquals(s.state, "waiting");
  assertEquals(s.nodes.map((n) => [n.name, n.state, n.position]), [["b", "joined", null], [
    "a",
    "joined",
    null,
  ]]);
  b.apply(planned(["a", "b"]));
  s = b.snapshot();
  assertEquals(s.state, "streaming");
  assertEquals(s.nodes.map((n) => [n.name, n.position, n.upstream, n.phase]), [
    ["a", 1, "server", "streaming"],
    ["b", 2, "a", "streaming"],
  ]);
});

Deno.test("status: progress gives each node its bytes, rate and lag behind the source, and a chart point", () => {
  const { board: b, at } = board();
  for (const [i, name] of ["n1", "n2"].entries()) b.apply(joined(name, i));
  b.apply(planned(["n1", "n2"]));
  at(1);
  b.apply(progress(10e6, { n1: 8e6, n2: 6e6 }, 1));
  at(2);
  b.apply(progress(30e6, { n1: 28e6, n2: 26e6 }, 2));
  const s = b.snapshot();
  assertEquals(s.t, 2);
  assertEquals(s.nodes.map((n) => [n.bytes, n.lagBytes]), [[28e6, 2e6], [26e6, 4e6]]);
  assertEquals(s.nodes[0].rate, 10e6, "half the last interval's 20 MB/s, half the earlier estimate (0)");
  assertEquals(s.samples.map((p) => [p.t, p.bytes, p.slowestBytes]), [[1, 10e6, 6e6], [2, 30e6, 26e6]]);
});

Deno.test("status: a lost node is failed with its error; the repaired child hangs under its new upstream", () => {
  const { board: b } = board();
  for (const [i, name] of ["n1", "n2", "n3"].entries()) b.apply(joined(name, i));
  b.apply(planned(["n1", "n2", "n3"]));
  b.apply(progress(10e6, { n1: 9e6, n2: 8e6, n3: 7e6 }, 1));
  b.apply({ type: "node-lost", name: "n2", error: { code: "NNF", message: "gone" } });
  const repair: RepairRecord = {
    failed: "n2",
    child: "n3",
    upstream: "n1",
    offset: 7e6,
    resentBytes: 2e6,
    seconds: 0.05,
    error: null,
  };
  b.apply({ type: "repaired", repair });
  const s = b.snapshot();
  assertEquals(s.nodes.map((n) => [n.name, n.state, n.upstream, n.repaired]), [
    ["n1", "streaming", "server", false],
    ["n2", "failed", "n1", false],
    ["n3", "streaming", "n1", true],
  ]);
  assertEquals(s.nodes[1].error?.code, "NNF");
  assertEquals(s.repairs, [repair]);
});

Deno.test("status: the final rows are the report's verdicts; a lost node keeps the bytes it last told", () => {
  const { board: b } = board();
  for (const [i, name] of ["n1", "n2", "n3"].entries()) b.apply(joined(name, i));
  b.apply(planned(["n1", "n2", "n3"]));
  b.apply(progress(50e6, { n1: 40e6, n2: 30e6, n3: 20e6 }, 5));
  const nodes = [result("n1", 1, "server", true), result("n2", 2, "n1", false), result("n3", 3, "n1", true)];
  b.apply({ type: "node-done", node: nodes[0] });
  assertEquals(b.snapshot().nodes[0].state, "ok");
  b.apply({
    type: "done",
    report: {
      version: 1,
      deployment: "d",
      source: "s",
      bytes: 100e6,
      hash: "h",
      algorithm: "xxh128",
      fanout: 1,
      protection: "sealed",
      compression: null,
      rawBytes: null,
      seconds: 10,
      error: null,
      nodes,
      repairs: [{
        failed: "n2",
        child: "n3",
        upstream: "n1",
        offset: 2e7,
        resentBytes: 0,
        seconds: 0.1,
        error: null,
      }],
    },
  });
  const s = b.snapshot();
  assertEquals(s.state, "done");
  assertEquals(s.verdict, { ok: 2, failed: 1, allOk: false, error: null });
  assertEquals(s.nodes.map((n) => [n.name, n.state, n.bytes, n.phase, n.repaired]), [
    ["n1", "ok", 100e6, "received", false],
    ["n2", "failed", 30e6, "streaming", false],
    ["n3", "ok", 100e6, "received", true],
  ]);
});

Deno.test("status: the chart's history stays bounded over a long run and keeps its first and last points", () => {
  const { board: b, at } = board();
  b.apply(joined("n1", 0));
  b.apply(planned(["n1"]));
  for (let i = 1; i <= 5 * MAX_SAMPLES; i++) {
    at(i);
    b.apply(progress(i * 1e6, { n1: i * 1e6 }, i));
  }
  const { samples } = b.snapshot();
  assert(samples.length <= MAX_SAMPLES && samples.length >= MAX_SAMPLES / 2, `${samples.length} points`);
  assertEquals(samples.at(-1)!.t, 5 * MAX_SAMPLES);
  assert(samples[0].t <= 4, `the oldest point is still near the start: ${samples[0].t}`);
  assert(samples.every((p, i) => i === 0 || p.t > samples[i - 1].t), "in time order");
});

Deno.test("status: every change moves the version; what the status does not show does not", () => {
  const { board: b } = board();
  const before = b.version;
  b.apply({ type: "idle", seconds: 30 });
  assertEquals(b.version, before);
  b.apply(joined("n1", 0));
  assert(b.version > before);
});
