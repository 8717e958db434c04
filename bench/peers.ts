/**
 * kad against the tools users would pick instead, on the same netlab (a bridge and one namespace
 * per host, every port shaped): kad chain, a `socat | tee | socat` chain, a star (the server sends
 * N TCP streams at once, as pdcp/scp loops do) and udpcast multicast. Every copy is checksummed.
 *
 * Usage (root): deno task bench:peers [--nodes 1,2,4,8,12] [--size 200MB] [--rate 200mbit] [--plot FILE]
 * Installs socat, udpcast and iperf3 from apt when they are missing.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { canBuildNetlab, Netlab, parseRate } from "../lib/netlab/netlab.ts";
import { hashFile } from "../lib/integrity/stream_hash.ts";
import { exists, have, kadArgv, waitListening } from "./_tools.ts";
import { renderSvgPlot } from "../cli/svg_plot.ts";
import { byteSize } from "../cli/flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "1,2,4,8,12" },
    size: { type: "string", default: "200MB" },
    rate: { type: "string", default: "200mbit" },
    plot: { type: "string", default: "bench/peers.svg" },
    tools: { type: "string", default: "kad,socat,star,udpcast" },
  },
});
const COUNTS = values.nodes!.split(",").map(Number);
const BYTES = byteSize(values.size!, "size", "bench");
const RATE = values.rate!;
const TOOLS = values.tools!.split(",");
const KAD = kadArgv();

async function ensureTools(): Promise<void> {
  const missing = [["socat", "socat"], ["udp-sender", "udpcast"], ["iperf3", "iperf3"]].filter(([t]) =>
    !have(t)
  );
  if (missing.length === 0) return;
  console.log(`installing ${missing.map((m) => m[1]).join(" ")} from apt…`);
  const apt = (args: string[]) =>
    new Deno.Command("apt-get", { args, env: { DEBIAN_FRONTEND: "noninteractive" }, stdout: "null" })
      .output();
  await apt(["update", "-qq"]);
  await apt(["install", "-y", "-qq", ...missing.map((m) => m[1])]);
}

const spawn = (argv: string[], stdout: "null" | "piped" = "null") =>
  new Deno.Command(argv[0], { args: argv.slice(1), stdout, stderr: "piped" }).spawn();

interface Run {
  seconds: number;
}

/** kad's time is its report's: from the start of streaming (links included) to the last verified copy. */
async function kadRun(lab: Netlab, image: string, dir: string, n: number): Promise<Run> {
  const [server, ...nodes] = lab.hosts;
  const srv = spawn(
    lab.exec(server, [
      ...KAD,
      "serve",
      "--image",
      image,
      "--clients",
      String(n),
      "--port",
      "9997",
      "--order",
      "name",
      "--json",
    ]),
    "piped",
  );
  await waitListening(9997, server.namespace);
  const joins = nodes.map((h, i) =>
    spawn(
      lab.exec(h, [
        ...KAD,
        "join",
        "--server",
        server.address,
        "--name",
        `n${String(i).padStart(3, "0")}`,
        "--out",
        join(dir, `copy-${i}`),
      ]),
    )
  );
  const [out] = await Promise.all([srv.output(), ...joins.map((j) => j.output())]);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
  return { seconds: lines.find((l) => l.event === "done").report.seconds };
}

async function socatChain(lab: Netlab, image: string, dir: string, _n: number): Promise<Run> {
  const [server, ...nodes] = lab.hosts;
  const procs: Deno.ChildProcess[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const out = join(dir, `copy-${i}`);
    const next = nodes[i + 1];
    const script = join(dir, `relay-${i}.sh`);
    await Deno.writeTextFile(
      script,
      next
        ? `#!/bin/sh\ntee ${out} | exec socat -u - TCP:${next.address}:7000\n`
        : `#!/bin/sh\nexec cat > ${out}\n`,
    );
    await Deno.chmod(script, 0o755);
    procs.push(spawn(lab.exec(nodes[i], ["socat", "-u", "TCP-LISTEN:7000,reuseaddr", `EXEC:${script}`])));
    await waitListening(7000, nodes[i].namespace);
  }
  const t0 = performance.now();
  const sender = spawn(lab.exec(server, ["socat", "-u", `OPEN:${image}`, `TCP:${nodes[0].address}:7000`]));
  await Promise.all([sender.output(), ...procs.map((p) => p.output())]);
  return { seconds: (performance.now() - t0) / 1000 };
}

async function star(lab: Netlab, image: string, dir: string, _n: number): Promise<Run> {
  const [server, ...nodes] = lab.hosts;
  const receivers = nodes.map((h, i) =>
    spawn(
      lab.exec(h, ["socat", "-u", "TCP-LISTEN:7000,reuseaddr", `OPEN:${join(dir, `copy-${i}`)},creat,trunc`]),
    )
  );
  for (const h of nodes) await waitListening(7000, h.namespace);
  const t0 = performance.now();
  const senders = nodes.map((h) =>
    spawn(lab.exec(server, ["socat", "-u", `OPEN:${image}`, `TCP:${h.address}:7000`]))
  );
  await Promise.all([...senders, ...receivers].map((p) => p.output()));
  return { seconds: (performance.now() - t0) / 1000 };
}

async function udpcast(lab: Netlab, image: string, dir: string, n: number): Promise<Run> {
  const [server, ...nodes] = lab.hosts;
  const maxBitrate = `${Math.floor((parseRate(RATE) * 0.9) / 1e6)}m`;
  const receivers = nodes.map((h, i) =>
    spawn(lab.exec(h, ["udp-receiver", "--interface", "eth0", "--nokbd", "--file", join(dir, `copy-${i}`)]))
  );
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  const sender = spawn(lab.exec(server, [
    "udp-sender",
    "--interface",
    "eth0",
    "--nokbd",
    "--min-receivers",
    String(n),
    "--max-bitrate",
    maxBitrate,
    "--file",
    image,
  ]));
  await Promise.all([sender, ...receivers].map((p) => p.output()));
  return { seconds: (performance.now() - t0) / 1000 };
}

const RUNNERS: Record<string, (lab: Netlab, image: string, dir: string, n: number) => Promise<Run>> = {
  kad: kadRun,
  socat: socatChain,
  star,
  udpcast,
};

if (!canBuildNetlab()) {
  console.log("bench:peers SKIPPED: it needs root and iproute2 to build the netlab");
  Deno.exit(0);
}
await ensureTools();
const work = await Deno.makeTempDir({
  prefix: "kad-peers-",
  dir: exists("/dev/shm") ? "/dev/shm" : undefined,
});
const image = join(work, "source.img");
{
  const data = new Uint8Array(1 << 20);
  using file = await Deno.open(image, { write: true, create: true });
  for (let done = 0; done < BYTES; done += data.length) {
    crypto.getRandomValues(data.subarray(0, 65536));
    await file.write(data.subarray(0, Math.min(data.length, BYTES - done)));
  }
}
const sourceHash = await hashFile(image);
const results: Record<string, [number, number][]> = {};
console.log(`peers on a netlab: ${BYTES / 1e6} MB, ports at ${RATE}; every copy checksummed (xxh128)\n`);
console.log(`tool      ${COUNTS.map((n) => `N=${n}`.padStart(9)).join("")}`);
try {
  for (const tool of TOOLS) {
    results[tool] = [];
    const cells: string[] = [];
    for (const n of COUNTS) {
      const dir = join(work, "copies");
      await Deno.mkdir(dir, { recursive: true });
      await using lab = await Netlab.create({ hosts: n + 1, shape: { rate: RATE } });
      const run = await RUNNERS[tool](lab, image, dir, n);
      let ok = 0;
      for (let i = 0; i < n; i++) {
        if (exists(join(dir, `copy-${i}`)) && await hashFile(join(dir, `copy-${i}`)) === sourceHash) ok++;
      }
      await Deno.remove(dir, { recursive: true });
      results[tool].push([n, run.seconds]);
      cells.push(`${run.seconds.toFixed(2)}${ok === n ? " " : "!"}`.padStart(9));
    }
    console.log(`${tool.padEnd(10)}${cells.join("")}`);
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
const ideal = (BYTES * 8) / parseRate(RATE);
console.log(
  `\n(seconds; "!" marks a run where not every copy matched the source; wire-speed ideal ${
    ideal.toFixed(2)
  } s)`,
);
if (results.kad) {
  for (const peer of TOOLS.filter((t) => t !== "kad")) {
    const ratios = results.kad.map(([n, s], i) => `N=${n} ${(results[peer][i][1] / s).toFixed(2)}×`);
    console.log(`kad vs ${peer}: ${ratios.join("  ")}`);
  }
  const k = results.kad;
  console.log(`kad time(${k.at(-1)![0]})/time(${k[0][0]}) = ${(k.at(-1)![1] / k[0][1]).toFixed(3)}`);
}
await Deno.writeTextFile(
  values.plot!,
  renderSvgPlot({
    title: `${BYTES / 1e6} MB to N nodes, ${RATE} ports`,
    xLabel: "nodes",
    yLabel: "seconds",
    series: TOOLS.map((t) => ({ name: t === "socat" ? "socat|tee chain" : t, points: results[t] ?? [] })),
  }),
);
console.log(`plot: ${values.plot}`);
