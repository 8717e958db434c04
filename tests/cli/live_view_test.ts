/**
 * `kad serve`'s live lines: a line per node on a terminal for small deployments, the five slowest
 * for large ones, the ETA from the size or a directory's estimate, and redraws that erase what they
 * drew.
 */

import { liveLines, LiveView, MAX_NODE_LINES, runLine } from "../../cli/live_view.ts";
import type { TextOut } from "../../cli/terminal.ts";
import type { DeploymentStatus, NodeStatus } from "../../lib/status/deployment_status.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

function node(i: number, bytes: number, rate: number, state: NodeStatus["state"] = "streaming"): NodeStatus {
  return {
    name: `node-${i}`,
    address: `10.0.0.${i}:4000`,
    position: i,
    upstream: i === 1 ? "server" : `node-${i - 1}`,
    state,
    phase: "streaming",
    bytes,
    rate,
    lagBytes: 500e6 - bytes,
    error: state === "failed" ? { code: "NNF", message: "gone" } : null,
    repaired: false,
  };
}

function status(nodes: NodeStatus[], sizes: Partial<DeploymentStatus> = {}): DeploymentStatus {
  return {
    version: 1,
    t: 12,
    state: "streaming",
    fanout: 1,
    bytes: 500e6,
    totalBytes: 1e9,
    estimatedBytes: null,
    seconds: 10,
    rate: 50e6,
    nodes,
    repairs: [],
    samples: [],
    verdict: null,
    ...sizes,
  };
}

Deno.test("live view: the run's line has the bytes of the size, rate, elapsed, ETA and nodes done", () => {
  const line = runLine(status([node(1, 400e6, 40e6), node(2, 1e9, 50e6, "ok")]));
  assertEquals(line, "500.0 MB of 1.0 GB (50%)  50.0 MB/s  elapsed 0:10  ETA 0:10  nodes 1/2 done");
});

Deno.test("live view: a directory's size is an estimate, and the line says so", () => {
  const line = runLine(status([node(1, 400e6, 40e6)], { totalBytes: null, estimatedBytes: 2e9 }));
  assert(line.startsWith("500.0 MB of ~2.0 GB (25%, estimated)  50.0 MB/s  elapsed 0:10  ETA ~0:30  "), line);
  assert(!/ETA/.test(runLine(status([], { totalBytes: null }))), "no size, no ETA");
});

Deno.test("live view: up to 20 nodes, a line each with name, bar, MB/s and phase", () => {
  const nodes = Array.from({ length: MAX_NODE_LINES }, (_, i) => node(i + 1, 250e6, 30e6));
  nodes[3] = node(4, 100e6, 0, "failed");
  const lines = liveLines(status(nodes));
  assertEquals(lines.length, 1 + MAX_NODE_LINES);
  assertEquals(lines[1], "  node-1  █████░░░░░░░░░░░░░░░    30.0 MB/s  streaming  250.0 MB behind");
  assertEquals(lines[4], "  node-4  ██░░░░░░░░░░░░░░░░░░       – MB/s  failed: NNF");
});

Deno.test("live view: more than 20 nodes, the run's line and the five slowest streaming ones", () => {
  const nodes = Array.from({ length: 64 }, (_, i) => node(i + 1, 300e6 + i * 1e6, 30e6));
  nodes[40] = node(41, 10e6, 1e6);
  nodes[50] = node(51, 5e6, 0, "failed");
  const lines = liveLines(status(nodes));
  assertEquals(lines.length, 1 + 1 + 5);
  assertEquals(lines[1], "  slowest 5 of 64:");
  assertEquals(lines.slice(2).map((l) => l.trim().split(" ")[0]), [
    "node-41",
    "node-1",
    "node-2",
    "node-3",
    "node-4",
  ]);
});

Deno.test("live view: on a terminal each redraw erases the lines it drew; elsewhere one line every few seconds", () => {
  const written: string[] = [];
  const terminal: TextOut = { write: (t) => void written.push(t), isTerminal: true };
  const view = new LiveView(terminal);
  const s = status([node(1, 1, 1), node(2, 1, 1)]);
  view.update(s);
  view.update(s);
  view.clear();
  assertEquals(written[0].startsWith("\r\x1b[J"), true, "nothing drawn yet: erase the current line only");
  assertEquals(written[1].startsWith("\r\x1b[2A\x1b[J"), true, "three lines drawn: up two, erase to the end");
  assertEquals(written[2], "\r\x1b[2A\x1b[J");
  const plain: string[] = [];
  const pipe = new LiveView({ write: (t) => void plain.push(t), isTerminal: false });
  pipe.update(s);
  pipe.update(s);
  assertEquals(plain.length, 1);
  assertEquals(plain[0], runLine(s) + "\n");
});
