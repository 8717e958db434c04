/**
 * How fast `kad run` starts a command on many agents: a head on loopback, N agents (in a few
 * processes, bench/_agent_swarm.ts), and `kad run -- true` timed from the client's request to the
 * last node's exit (in-process, HeadClient), then as a user runs it (the CLI, wall time). The head
 * sends each agent its command directly; the bench also prints when the first node's exit came
 * back (one command's round trip) and the head's own time to hand out N commands (its JSON event),
 * the only serial part a relay tree could shorten: the rest is N processes starting on this
 * machine's two cores, which a cluster's nodes do in parallel.
 * Fails on any node that does not exit 0. Prints the load.
 *
 * Usage: deno run -A bench/run_start.ts [--agents 100] [--runs 5]
 */

import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { HeadClient } from "../lib/agent/head_client.ts";
import { newJobId } from "../lib/protocol/agent_messages.ts";
import { lines } from "../lib/text/lines.ts";
import { kadArgv, loadAverage } from "./_tools.ts";
import { kadCommand } from "../cli/self_exec.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { agents: { type: "string", default: "100" }, runs: { type: "string", default: "5" } },
});
const N = Number(values.agents);
const RUNS = Number(values.runs);
const TOKEN = "kad-bench-token-0123456789";
const PER_PROCESS = Number(Deno.env.get("PER") ?? 25);
const KAD = kadArgv();

console.log(`run_start: ${N} agents on loopback, ${RUNS} runs; load before: ${loadAverage()}`);
const env = { KAD_TOKEN: TOKEN };
const head = new Deno.Command(KAD[0], {
  args: [...KAD.slice(1), "head", "--listen", "127.0.0.1", "--port", "0", "--json"],
  env,
  stdout: "piped",
  stderr: "inherit",
}).spawn();
let connected = 0;
/** The head's own time per job: from the request to the last order written. */
const handedOut: number[] = [];
let resolvePort!: (port: number) => void;
const port = new Promise<number>((r) => resolvePort = r);
(async () => {
  for await (const line of lines(head.stdout)) {
    const event = JSON.parse(line);
    if (event.event === "listening") resolvePort(event.port);
    if (event.event === "agent-joined" || event.event === "agent-left") connected = event.agents;
    if (event.event === "job") handedOut.push(event.ms);
  }
})();
const headPort = await port;
const swarm = fileURLToPath(new URL("_agent_swarm.ts", import.meta.url));
const swarms: Deno.ChildProcess[] = [];
for (let at = 0; at < N; at += PER_PROCESS) {
  const argv = [
    ...kadCommand(swarm).slice(0, -1),
    swarm,
    `127.0.0.1:${headPort}`,
    String(Math.min(PER_PROCESS, N - at)),
    `a${at / PER_PROCESS}-`,
  ];
  swarms.push(
    new Deno.Command(argv[0], { args: argv.slice(1), env, stdout: "null", stderr: "inherit" }).spawn(),
  );
}
while (connected < N) await new Promise((r) => setTimeout(r, 100));

const client = await HeadClient.connect({ host: "127.0.0.1", port: headPort }, TOKEN, "bench", 10_000);
const inProcess: number[] = [];
const firstExit: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const started = performance.now();
  let first = 0;
  let ok = 0;
  await client.run({ kind: "run", job: newJobId(), command: "true", nodes: null }, {
    exit: ({ code }) => {
      first ||= performance.now();
      if (code === 0) ok++;
    },
  });
  if (ok !== N) throw new Error(`run ${run + 1}: ${N - ok} node(s) did not exit 0`);
  inProcess.push(performance.now() - started);
  firstExit.push(first - started);
}
client.close();
const cli: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const started = performance.now();
  const argv = [...KAD, "run", "--head", `127.0.0.1:${headPort}`, "--json", "--", "true"];
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), env, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`kad run failed: ${new TextDecoder().decode(out.stderr)}`);
  cli.push(performance.now() - started);
}
for (const s of swarms) s.kill("SIGTERM");
head.kill("SIGTERM");
await Promise.all([...swarms.map((s) => s.status), head.status]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(0)} ms`;
console.log(
  `request → all ${N} exits (in-process client): median ${ms(median(inProcess))}, runs ${
    inProcess.map(ms).join(" ")
  }`,
);
console.log(`  request → the first exit (one command's round trip): median ${ms(median(firstExit))}`);
console.log(`  the head handing out ${N} commands: median ${median(handedOut).toFixed(1)} ms`);
console.log(
  `kad run -- true (CLI wall time, its own start-up included): median ${ms(median(cli))}, runs ${
    cli.map(ms).join(" ")
  }`,
);
console.log(`load after: ${loadAverage()}`);
