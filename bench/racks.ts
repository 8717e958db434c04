/**
 * One chain per rack against one chain across racks, on the netlab: two switches (the server and
 * half the nodes on the first) joined by a slow trunk, every port shaped. Nodes join alternately
 * from each rack, as they would when started by hand or by a batch system. "naive": they say
 * nothing, so the chain follows the joining order and crosses the trunk at every hop; "per rack":
 * they say `--label rack=R`, so each rack gets its own chain and the trunk is crossed once. Times
 * are kad's reports' (first byte to last verified copy); every node must end ok (`--null`: the
 * stream's count and hash are checked, nothing is written), or the bench fails; a time faster than
 * the trunk allows fails it too. Prints the load; draws both against the nodes per rack.
 *
 * Usage (root): deno run -A bench/racks.ts [--per-rack 1,2,4] [--size 100MB] [--rate 1gbit]
 *   [--trunk 100mbit] [--plot bench/racks.svg]
 */

import { parseArgs } from "node:util";
import { canBuildNetlab, Netlab, parseRate } from "../lib/netlab/netlab.ts";
import type { DeploymentReport } from "../lib/report/report.ts";
import { lines } from "../lib/text/lines.ts";
import { byteSize } from "../cli/flags.ts";
import { renderSvgPlot } from "../cli/svg_plot.ts";
import { kadArgv, loadAverage, spawnPiped } from "./_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "per-rack": { type: "string", default: "1,2,4" },
    size: { type: "string", default: "100MB" },
    rate: { type: "string", default: "1gbit" },
    trunk: { type: "string", default: "100mbit" },
    plot: { type: "string", default: "bench/racks.svg" },
  },
});
const COUNTS = values["per-rack"]!.split(",").map(Number);
const BYTES = byteSize(values.size!, "size", "bench");
const TRUNK_SECONDS = (BYTES * 8) / parseRate(values.trunk!);
const KAD = kadArgv();

if (!canBuildNetlab()) {
  console.error("bench: the netlab needs root and iproute2 (ip, tc)");
  Deno.exit(1);
}

/** One deployment to `perRack` nodes on each switch; returns kad's time. */
async function run(lab: Netlab, perRack: number, labelled: boolean): Promise<number> {
  const [serverHost, ...hosts] = lab.hosts;
  const nodes = hosts.filter((h) => h.switch === 0).slice(0, perRack)
    .flatMap((a, i) => [a, hosts.filter((h) => h.switch === 1)[i]]);
  const server = spawnPiped(lab.exec(serverHost, [
    ...KAD,
    "serve",
    "--bench",
    String(BYTES),
    "--clients",
    String(nodes.length),
    "--json",
  ]));
  const events: Record<string, unknown>[] = [];
  const reading = (async () => {
    for await (const line of lines(server.stdout)) events.push(JSON.parse(line));
  })();
  while (!events.some((e) => e.event === "listening")) await new Promise((r) => setTimeout(r, 20));
  const address = `${serverHost.address}:${events[0].port}`;
  const joins: Promise<Deno.CommandOutput>[] = [];
  for (const [i, host] of nodes.entries()) {
    const label = labelled ? ["--label", `rack=${host.switch === 0 ? "a" : "b"}`] : [];
    joins.push(
      spawnPiped(lab.exec(host, [...KAD, "join", "--server", address, "--null", ...label])).output(),
    );
    while (events.filter((e) => e.event === "joined").length <= i) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const exits = await Promise.all(joins);
  await server.status;
  await reading;
  const report = events.find((e) => e.event === "done")?.report as DeploymentReport | undefined;
  const failed = exits.find((e) => !e.success);
  if (!report || failed || report.nodes.some((n) => n.status !== "ok")) {
    throw new Error(`a run failed: ${new TextDecoder().decode(failed?.stderr ?? new Uint8Array()).trim()}`);
  }
  if (report.seconds < TRUNK_SECONDS * 0.98) throw new Error(`faster than the trunk: ${report.seconds} s`);
  return report.seconds;
}

console.log(
  `racks: ${values.size} to N nodes on each of two switches, ${values.rate} ports, a ${values.trunk} trunk ` +
    `(the trunk alone: ${TRUNK_SECONDS.toFixed(2)} s); load ${loadAverage()}`,
);
const max = Math.max(...COUNTS);
await using lab = await Netlab.create({
  hosts: 1 + 2 * max,
  shape: { rate: values.rate! },
  trunk: { firstOnSecond: 1 + max, shape: { rate: values.trunk! } },
});
const naive: [number, number][] = [];
const perRack: [number, number][] = [];
console.log("nodes per rack | naive chain | one chain per rack");
for (const [i, n] of COUNTS.entries()) {
  // alternate which goes first, so neither always runs on a quieter machine
  const order = i % 2 === 0 ? [false, true] : [true, false];
  const times = new Map<boolean, number>();
  for (const labelled of order) times.set(labelled, await run(lab, n, labelled));
  naive.push([n, times.get(false)!]);
  perRack.push([n, times.get(true)!]);
  console.log(
    `${String(n).padStart(14)} | ${times.get(false)!.toFixed(2).padStart(9)} s | ${
      times.get(true)!.toFixed(2)
    } s`,
  );
}
console.log(`load ${loadAverage()}`);
await Deno.writeTextFile(
  values.plot!,
  renderSvgPlot({
    title: `${values.size} to two racks, ${values.rate} ports, ${values.trunk} between the switches`,
    xLabel: "nodes per rack",
    yLabel: "seconds",
    series: [{ name: "one chain, joining order", points: naive }, {
      name: "one chain per rack",
      points: perRack,
    }],
  }),
);
console.log(`plot: ${values.plot}`);
