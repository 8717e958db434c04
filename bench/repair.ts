/**
 * Time to repair: a chain of 8 nodes on the netlab (200 Mbit/s ports), failure-free and with one node
 * killed -9 half-way; the total time of each run from kad's report, the repair's own numbers, and
 * the ratio (goal ≤ 1.1×). Needs root. `deno task bench:repair [--size 200MB] [--victim 4] [--runs 3]`
 */

import { parseArgs } from "node:util";
import { Netlab, sweepStaleNetlabs } from "../lib/netlab/netlab.ts";
import type { DeploymentReport } from "../lib/report/report.ts";
import { kadArgv, waitListening } from "./_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    size: { type: "string", default: "200MB" },
    rate: { type: "string", default: "200mbit" },
    victim: { type: "string", default: "4" },
    runs: { type: "string", default: "3" },
  },
});
const NODES = 8;
const victim = Number(values.victim);
const KAD = kadArgv();

async function deployment(lab: Netlab, kill: boolean): Promise<DeploymentReport> {
  const [server, ...nodes] = lab.hosts;
  const spawn = (argv: string[], stdout: "piped" | "null") =>
    new Deno.Command(argv[0], { args: argv.slice(1), stdout, stderr: "null" }).spawn();
  const serve = ["serve", "--bench", values.size!, "--clients", String(NODES), "--order", "name", "--json"];
  const srv = spawn(lab.exec(server, [...KAD, ...serve, "--port", "9997"]), "piped");
  const output = new Response(srv.stdout).text();
  await waitListening(9997, server.namespace);
  const joins = nodes.map((h, i) =>
    spawn(lab.exec(h, [...KAD, "join", "--server", server.address, "--name", `n${i + 1}`, "--null"]), "null")
  );
  if (kill) {
    // half-way through the stream at the port rate
    const seconds = parseSize(values.size!) * 8 / parseRate(values.rate!) / 2;
    setTimeout(() => joins[victim - 1].kill("SIGKILL"), seconds * 1000 + 300);
  }
  await Promise.all(joins.map((j) => j.status));
  await srv.status;
  const done = (await output).trim().split("\n").map((l) => JSON.parse(l)).find((e) => e.event === "done");
  return done.report as DeploymentReport;
}

function parseSize(size: string): number {
  const m = /^(\d+)(MB|GB)$/i.exec(size)!;
  return Number(m[1]) * (m[2].toUpperCase() === "GB" ? 1e9 : 1e6);
}

function parseRate(rate: string): number {
  const m = /^(\d+)(m|g)bit$/i.exec(rate)!;
  return Number(m[1]) * (m[2].toLowerCase() === "g" ? 1e9 : 1e6);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

await sweepStaleNetlabs();
await using lab = await Netlab.create({ hosts: NODES + 1, shape: { rate: values.rate! } });
const clean: number[] = [];
const failed: number[] = [];
const repairs: string[] = [];
for (let run = 0; run < Number(values.runs); run++) {
  const ok = await deployment(lab, false);
  if (!ok.nodes.every((n) => n.status === "ok")) throw new Error("the failure-free run failed");
  clean.push(ok.seconds);
  const hurt = await deployment(lab, true);
  const others = hurt.nodes.filter((n) => n.name !== `n${victim}`);
  if (!others.every((n) => n.status === "ok")) {
    throw new Error(`nodes failed: ${JSON.stringify(others.filter((n) => n.status !== "ok"))}`);
  }
  failed.push(hurt.seconds);
  for (const r of hurt.repairs) {
    repairs.push(
      `${r.failed} → ${r.upstream} feeds ${r.child} from ${(r.offset ?? 0) / 1e6} MB, ` +
        `resent ${(r.resentBytes / 1e6).toFixed(1)} MB in ${(r.seconds * 1000).toFixed(0)} ms`,
    );
  }
}
console.log(`chain of ${NODES}, ${values.size} at ${values.rate}, node n${victim} killed -9 half-way`);
console.log(
  `failure-free: ${clean.map((s) => s.toFixed(2)).join(" ")} s (median ${median(clean).toFixed(2)})`,
);
console.log(
  `one node dead: ${failed.map((s) => s.toFixed(2)).join(" ")} s (median ${median(failed).toFixed(2)})`,
);
console.log(`ratio: ${(median(failed) / median(clean)).toFixed(3)}× (goal ≤ 1.1×)`);
for (const r of repairs) console.log(`  repair: ${r}`);
