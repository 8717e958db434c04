/**
 * What one slow node costs the others, on the netlab (a bridge and one namespace per host, every
 * port shaped): N nodes on RATE ports, one of them (the third to join) on a port of SLOW; against
 * the same N - 1 without it. With the default (--slow-nodes move) the server moves the slow node off
 * the chain and feeds it on its own; with --slow-nodes stay the chain runs at its pace. Times are
 * the server's (its JSON events' `t`), from the start of streaming to each node's verified copy
 * (--bench: every node checks the source's hash; the bench fails on any node not ok, and on a time
 * faster than the wire). Prints the load.
 *
 * Usage (root): deno run -A bench/slow_node.ts [--nodes 8] [--size 300MB] [--rate 200mbit]
 *   [--slow 50mbit] [--server-rate 1gbit] [--modes move,stay]
 */

import { parseArgs } from "node:util";
import { canBuildNetlab, Netlab, parseRate } from "../lib/netlab/netlab.ts";
import { lines } from "../lib/text/lines.ts";
import { byteSize } from "../cli/flags.ts";
import { kadArgv, loadAverage, spawnPiped } from "./_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "8" },
    size: { type: "string", default: "300MB" },
    rate: { type: "string", default: "200mbit" },
    slow: { type: "string", default: "50mbit" },
    "server-rate": { type: "string", default: "1gbit" },
    modes: { type: "string", default: "move,stay" },
  },
});
const N = Number(values.nodes);
const SIZE = values.size!;
const BYTES = byteSize(SIZE, "size", "bench");
const WIRE_SECONDS = (BYTES * 8) / parseRate(values.rate!);
const SLOW_INDEX = 3; // the third node to join: mid-chain
const KAD = kadArgv();

if (!canBuildNetlab()) {
  console.error("bench: the netlab needs root and iproute2 (ip, tc)");
  Deno.exit(1);
}

/** Seconds from the start to each node's verified copy: the others' last, and the slow one's. */
async function run(lab: Netlab, withSlow: boolean, mode: "move" | "stay") {
  const [serverHost, ...all] = lab.hosts;
  const hosts = withSlow ? all : all.filter((h) => h.index !== SLOW_INDEX);
  const events: Record<string, unknown>[] = [];
  const argv = ["serve", "--bench", SIZE, "--clients", String(hosts.length), "--slow-nodes", mode, "--json"];
  const server = spawnPiped(lab.exec(serverHost, [...KAD, ...argv]));
  const reading = (async () => {
    for await (const line of lines(server.stdout)) events.push(JSON.parse(line));
  })();
  while (!events.some((e) => e.event === "listening")) await new Promise((r) => setTimeout(r, 20));
  const address = `${serverHost.address}:${events[0].port}`;
  const nodes = [];
  for (const host of hosts) {
    nodes.push(spawnPiped(lab.exec(host, [...KAD, "join", "--server", address, "--null"])));
    const joined = nodes.length;
    while (events.filter((e) => e.event === "joined").length < joined) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const exits = await Promise.all(nodes.map((p) => p.output()));
  const status = await server.status;
  await reading;
  const failed = exits.find((e) => !e.success);
  if (failed || !status.success) {
    throw new Error(`a run failed: ${new TextDecoder().decode(failed?.stderr ?? new Uint8Array()).trim()}`);
  }
  const report = events.find((e) => e.event === "done")!.report as { nodes: { status: string }[] };
  if (!report.nodes.every((n) => n.status === "ok")) throw new Error("a node is not ok");
  const start = events.find((e) => e.event === "planned")!.t as number;
  const slowName = withSlow
    ? (events.filter((e) => e.event === "joined")[SLOW_INDEX - 1].name as string)
    : null;
  const done = events.filter((e) => e.event === "node-done");
  const others = done.filter((e) => e.name !== slowName).map((e) => (e.t as number) - start);
  const slowDone = done.find((e) => e.name === slowName);
  if (Math.max(...others) < WIRE_SECONDS * 0.98) {
    throw new Error(`faster than the wire: ${Math.max(...others)} s`);
  }
  return {
    others: Math.max(...others),
    slow: slowDone ? (slowDone.t as number) - start : null,
    moved: events.some((e) => e.event === "node-moved"),
  };
}

console.log(
  `slow node: ${N} nodes on ${values.rate} ports, node ${SLOW_INDEX} on ${values.slow}, the server on ` +
    `${values["server-rate"]}, ${SIZE} --bench (the wire alone: ${
      WIRE_SECONDS.toFixed(2)
    } s); load ${loadAverage()}`,
);
await using lab = await Netlab.create({
  hosts: N + 1,
  shape: { rate: values.rate! },
  serverShape: { rate: values["server-rate"]! },
  hostShapes: { [SLOW_INDEX]: { rate: values.slow! } },
});
const baseline = await run(lab, false, "move");
console.log(`${N - 1} nodes, no slow one       | the others' last: ${baseline.others.toFixed(2)} s`);
for (const mode of values.modes!.split(",") as ("move" | "stay")[]) {
  const r = await run(lab, true, mode);
  const ratio = (r.others / baseline.others).toFixed(2);
  console.log(
    `${N} nodes, --slow-nodes ${mode.padEnd(4)} | the others' last: ${r.others.toFixed(2)} s (${ratio}×)` +
      ` | the slow one: ${r.slow?.toFixed(2)} s${r.moved ? " (moved)" : ""}`,
  );
}
console.log(`load ${loadAverage()}`);
