/**
 * kad against the tools users would pick instead, on the same netlab (a bridge and one namespace
 * per host, every port shaped): kad (default: token and sealed frames; and `--insecure`), a
 * `socat | tee | socat` chain, a star (the server sends N TCP streams at once, as pdcp/scp loops
 * do) and udpcast multicast. (dolly is not packaged by Debian, so it is not in the list.)
 *
 * Treated alike: every node runs under GNU time (CPU seconds and peak RSS of the node's processes:
 * kad's one process; socat, the shell, tee and the next socat; udp-receiver), every copy goes to
 * /dev/shm (tmpfs: kad's fsync costs nothing there and socat does not sync) and is checksummed
 * against the source, runs at one N rotate the tools' order. Times: kad's is its report's (first
 * byte streamed to the last verified copy); the others' from the sender's start to the last
 * receiver's exit. The bench fails (exit 1) on any copy that does not match, on a kad node that
 * is not ok, and on a time faster than the wire. It prints the load average before and after, the
 * slope of time against N (what each added node costs: its hop, and on this one host the CPU it
 * takes from the others), and for the chains the delay per hop itself: the copies' last writes,
 * head to tail, over the hops between them.
 *
 * Usage (root): deno task bench:peers [--nodes 1,2,4,8,12] [--size 200MB] [--rate 200mbit]
 *   [--tools kad,kad-insecure,kad-zstd,socat,star,udpcast] [--runs 1] [--data random|usr] [--plot FILE]
 * `--data usr`: the source is the first SIZE bytes of a tar of this machine's /usr (a real system
 * tree, which compresses) instead of random bytes; `kad-zstd` is kad with `kad serve --compress zstd`.
 * Installs socat, udpcast and time from apt when they are missing.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { canBuildNetlab, Netlab, type NetlabHost, parseRate } from "../lib/netlab/netlab.ts";
import { hashFile } from "../lib/integrity/stream_hash.ts";
import {
  exists,
  have,
  kadArgv,
  loadAverage,
  parseUsage,
  type ProcessUsage,
  timeArgv,
  waitListening,
} from "./_tools.ts";
import { renderSvgPlot } from "../cli/svg_plot.ts";
import { byteSize } from "../cli/flags.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "1,2,4,8,12" },
    size: { type: "string", default: "200MB" },
    rate: { type: "string", default: "200mbit" },
    plot: { type: "string", default: "bench/peers.svg" },
    tools: { type: "string", default: "kad,kad-insecure,socat,star,udpcast" },
    runs: { type: "string", default: "1" },
    data: { type: "string", default: "random" },
  },
});
const COUNTS = values.nodes!.split(",").map(Number);
const BYTES = byteSize(values.size!, "size", "bench");
const RATE = values.rate!;
const RUNS = Number(values.runs);
const TOOLS = values.tools!.split(",");
if (values.data !== "random" && values.data !== "usr") {
  console.error(`bench:peers: --data is random or usr, got "${values.data}"`);
  Deno.exit(2);
}
const KAD = kadArgv();
/** Seconds the payload alone needs at the port rate: no run can be faster. */
const WIRE_SECONDS = (BYTES * 8) / parseRate(RATE);

/** One tool's run at one N. */
interface Run {
  seconds: number;
  /** Per node, in node order. */
  nodes: ProcessUsage[];
  /**
   * A chain's delay per hop: from the last write to the head's copy to the last write to the
   * tail's, over the hops between them (file times of one host's clock); null for N = 1.
   */
  hopMs?: number | null;
  /** Bytes that crossed each link, when not the source's own (a compressed stream). */
  wireBytes?: number;
}

/** Where one run works: the lab, the source image, the copies' directory. */
interface Bench {
  lab: Netlab;
  image: string;
  dir: string;
  n: number;
}

const copyOf = (b: Bench, i: number) => join(b.dir, `copy-${i}`);
const usageOf = (b: Bench, i: number) => join(b.dir, `usage-${i}.txt`);

async function ensureTools(): Promise<void> {
  const missing = [["socat", "socat"], ["udp-sender", "udpcast"], ["/usr/bin/time", "time"]]
    .filter(([t]) => !have(t));
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

/** Runs `argv` on node `i`'s host under GNU time. */
const nodeProcess = (b: Bench, i: number, argv: string[], stdout: "null" | "piped" = "null") =>
  spawn(b.lab.exec(b.lab.hosts[i + 1], [...timeArgv(usageOf(b, i)), ...argv]), stdout);

async function nodeUsages(b: Bench): Promise<ProcessUsage[]> {
  const usages: ProcessUsage[] = [];
  for (let i = 0; i < b.n; i++) usages.push(parseUsage(await Deno.readTextFile(usageOf(b, i))));
  return usages;
}

/** Waits for every process; throws with the stderr of one that failed. */
async function allExit(procs: Deno.ChildProcess[], tool: string): Promise<void> {
  const results = await Promise.all(procs.map((p) => p.output()));
  const failed = results.find((r) => !r.success);
  if (failed) throw new Error(`${tool}: a process failed: ${new TextDecoder().decode(failed.stderr).trim()}`);
}

/** kad with `modeFlags` on the server and the nodes, and `serverFlags` on the server only. */
function kad(modeFlags: string[], serverFlags: string[] = []) {
  return async (b: Bench): Promise<Run> => {
    const [server] = b.lab.hosts;
    const srv = spawn(
      b.lab.exec(server, [
        ...KAD,
        "serve",
        "--image",
        b.image,
        "--clients",
        String(b.n),
        "--order",
        "name",
        "--json",
        ...modeFlags,
        ...serverFlags,
      ]),
      "piped",
    );
    await waitListening(9997, server.namespace);
    const joins = b.lab.hosts.slice(1).map((_, i) =>
      nodeProcess(b, i, [
        ...KAD,
        "join",
        "--server",
        server.address,
        "--name",
        `n${String(i).padStart(3, "0")}`,
        "--out",
        copyOf(b, i),
        ...modeFlags,
      ])
    );
    const [out] = await Promise.all([srv.output(), allExit(joins, "kad")]);
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => JSON.parse(l));
    const report = lines.find((l) => l.event === "done")?.report;
    if (!report) throw new Error("kad: the server ended without a report");
    const bad = report.nodes.filter((node: { status: string }) => node.status !== "ok");
    if (bad.length > 0) throw new Error(`kad: nodes not ok: ${JSON.stringify(bad)}`);
    return { seconds: report.seconds, nodes: await nodeUsages(b), wireBytes: report.bytes };
  };
}

async function socatChain(b: Bench): Promise<Run> {
  const [server, ...nodes] = b.lab.hosts;
  const procs: Deno.ChildProcess[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const next = nodes[i + 1];
    const script = join(b.dir, `relay-${i}.sh`);
    await Deno.writeTextFile(
      script,
      next
        ? `#!/bin/sh\ntee ${copyOf(b, i)} | exec socat -u - TCP:${next.address}:7000\n`
        : `#!/bin/sh\nexec cat > ${copyOf(b, i)}\n`,
    );
    await Deno.chmod(script, 0o755);
    procs.push(nodeProcess(b, i, ["socat", "-u", "TCP-LISTEN:7000,reuseaddr", `EXEC:${script}`]));
    await waitListening(7000, nodes[i].namespace);
  }
  const t0 = performance.now();
  const sender = spawn(
    b.lab.exec(server, ["socat", "-u", `OPEN:${b.image}`, `TCP:${nodes[0].address}:7000`]),
  );
  await allExit([sender, ...procs], "socat|tee");
  return { seconds: (performance.now() - t0) / 1000, nodes: await nodeUsages(b) };
}

async function star(b: Bench): Promise<Run> {
  const [server, ...nodes] = b.lab.hosts;
  const receivers = nodes.map((_, i) =>
    nodeProcess(b, i, ["socat", "-u", "TCP-LISTEN:7000,reuseaddr", `OPEN:${copyOf(b, i)},creat,trunc`])
  );
  for (const h of nodes) await waitListening(7000, h.namespace);
  const t0 = performance.now();
  const senders = nodes.map((h: NetlabHost) =>
    spawn(b.lab.exec(server, ["socat", "-u", `OPEN:${b.image}`, `TCP:${h.address}:7000`]))
  );
  await allExit([...senders, ...receivers], "star");
  return { seconds: (performance.now() - t0) / 1000, nodes: await nodeUsages(b) };
}

async function udpcast(b: Bench): Promise<Run> {
  const [server, ...nodes] = b.lab.hosts;
  const maxBitrate = `${Math.floor((parseRate(RATE) * 0.9) / 1e6)}m`;
  const receivers = nodes.map((_, i) =>
    nodeProcess(b, i, ["udp-receiver", "--interface", "eth0", "--nokbd", "--file", copyOf(b, i)])
  );
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  const sender = spawn(b.lab.exec(server, [
    "udp-sender",
    "--interface",
    "eth0",
    "--nokbd",
    "--min-receivers",
    String(b.n),
    "--max-bitrate",
    maxBitrate,
    "--file",
    b.image,
  ]));
  await allExit([sender, ...receivers], "udpcast");
  return { seconds: (performance.now() - t0) / 1000, nodes: await nodeUsages(b) };
}

const RUNNERS: Record<string, (b: Bench) => Promise<Run>> = {
  kad: kad([]),
  "kad-insecure": kad(["--insecure"]),
  "kad-zstd": kad([], ["--compress", "zstd"]),
  socat: socatChain,
  star,
  udpcast,
};
/** The tools that form a chain, whose copies end one hop after another. */
const CHAINS = ["kad", "kad-insecure", "kad-zstd", "socat"];
const LABELS: Record<string, string> = {
  kad: "kad (default)",
  "kad-insecure": "kad --insecure",
  "kad-zstd": "kad --compress zstd",
  socat: "socat|tee chain",
  star: "star (N socat)",
  udpcast: "udpcast",
};

/** One cell: a tool at one N, its median run; `failure` when a run did not deliver. */
interface Cell {
  run: Run | null;
  failure: string | null;
}

/** Runs `tool` once at `b.n` and checks every copy; the copies are removed after. */
async function measure(tool: string, b: Bench, sourceHash: string): Promise<Run> {
  await Deno.mkdir(b.dir, { recursive: true });
  try {
    const run = await RUNNERS[tool](b);
    const lastWrites = [];
    for (let i = 0; i < b.n; i++) lastWrites.push((await Deno.stat(copyOf(b, i))).mtime?.getTime() ?? 0);
    run.hopMs = b.n > 1 ? (lastWrites[b.n - 1] - lastWrites[0]) / (b.n - 1) : null;
    for (let i = 0; i < b.n; i++) {
      const copy = copyOf(b, i);
      if (!exists(copy, "file") || await hashFile(copy) !== sourceHash) {
        throw new Error(`${tool}: the copy of node ${i + 1} does not match the source`);
      }
    }
    const wireSeconds = ((run.wireBytes ?? BYTES) * 8) / parseRate(RATE);
    if (run.seconds < wireSeconds) {
      throw new Error(
        `${tool}: ${run.seconds.toFixed(2)} s is faster than the wire (${wireSeconds.toFixed(2)} s)`,
      );
    }
    return run;
  } finally {
    await Deno.remove(b.dir, { recursive: true });
  }
}

const meanCpuPerGB = (r: Run) =>
  r.nodes.reduce((sum, u) => sum + u.cpuSeconds, 0) / r.nodes.length / (BYTES / 1e9);
const maxRssMiB = (r: Run) => Math.max(...r.nodes.map((u) => u.rssKiB)) / 1024;

/** Least-squares seconds per added node. */
function slope(points: [number, number][]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
  const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? null : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
}

if (!canBuildNetlab()) {
  console.log("bench:peers SKIPPED: it needs root and iproute2 to build the netlab");
  Deno.exit(0);
}
for (const tool of TOOLS) {
  if (!RUNNERS[tool]) {
    console.error(`bench:peers: unknown tool "${tool}" (one of ${Object.keys(RUNNERS).join(", ")})`);
    Deno.exit(2);
  }
}
await ensureTools();
const work = await Deno.makeTempDir({ prefix: "kad-peers-", dir: "/dev/shm" });
const image = join(work, "source.img");
if (values.data === "usr") {
  // a real system tree: the first SIZE bytes of a tar of this machine's /usr
  const tar = `tar -c -f - --one-file-system -C / usr 2>/dev/null | head -c ${BYTES} > ${image}`;
  await new Deno.Command("sh", { args: ["-c", tar] }).output();
  const size = (await Deno.stat(image)).size;
  if (size !== BYTES) throw new Error(`a tar of /usr gave ${size} bytes, not ${BYTES}`);
} else {
  const data = new Uint8Array(1 << 20);
  using file = await Deno.open(image, { write: true, create: true });
  for (let done = 0; done < BYTES; done += data.length) {
    crypto.getRandomValues(data.subarray(0, 65536));
    await file.write(data.subarray(0, Math.min(data.length, BYTES - done)));
  }
}
const sourceHash = await hashFile(image);
const cells = new Map<string, Cell>(); // `${tool}@${n}`
console.log(
  `peers on a netlab: ${BYTES / 1e6} MB to N nodes, every port shaped at ${RATE} ` +
    `(wire-speed time ${WIRE_SECONDS.toFixed(2)} s), median of ${RUNS}`,
);
console.log(`copies in ${work} (tmpfs), each checked against the source (xxh128)`);
console.log(`source: ${values.data === "usr" ? "a tar of /usr" : "random bytes"}`);
console.log(`load average before: ${loadAverage()}\n`);
try {
  for (const n of COUNTS) {
    await using lab = await Netlab.create({ hosts: n + 1, shape: { rate: RATE } });
    const bench: Bench = { lab, image, dir: join(work, "copies"), n };
    const runs = new Map<string, Run[]>(TOOLS.map((t) => [t, []]));
    const failures = new Map<string, string>();
    for (let round = 0; round < RUNS; round++) {
      for (let k = 0; k < TOOLS.length; k++) {
        const tool = TOOLS[(k + round + n) % TOOLS.length];
        if (failures.has(tool)) continue;
        try {
          runs.get(tool)!.push(await measure(tool, bench, sourceHash));
        } catch (e) {
          failures.set(tool, e instanceof Error ? e.message : String(e));
        }
      }
    }
    for (const tool of TOOLS) {
      const list = runs.get(tool)!.sort((a, b) => a.seconds - b.seconds);
      const cell: Cell = failures.has(tool)
        ? { run: null, failure: failures.get(tool)! }
        : { run: list[Math.floor(list.length / 2)], failure: null };
      cells.set(`${tool}@${n}`, cell);
      console.log(
        `N=${String(n).padEnd(3)} ${LABELS[tool].padEnd(16)} ` +
          (cell.run
            ? `${cell.run.seconds.toFixed(2).padStart(7)} s  node CPU ${
              meanCpuPerGB(cell.run).toFixed(2)
            } s/GB (mean)  node RSS ${maxRssMiB(cell.run).toFixed(0)} MiB (max)` +
              (CHAINS.includes(tool) && cell.run.hopMs != null
                ? `  per hop ${cell.run.hopMs.toFixed(1)} ms`
                : "") +
              (cell.run.wireBytes !== undefined && cell.run.wireBytes !== BYTES
                ? `  wire ${(cell.run.wireBytes / 1e6).toFixed(0)} MB`
                : "")
            : `FAILED: ${cell.failure}`),
      );
    }
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
console.log(`\nload average after: ${loadAverage()}\n`);

const seconds = (tool: string): [number, number][] =>
  COUNTS.flatMap((n) => {
    const run = cells.get(`${tool}@${n}`)?.run;
    return run ? [[n, run.seconds] as [number, number]] : [];
  });
console.log(`| tool | ${COUNTS.map((n) => `N=${n}`).join(" | ")} | per added node |`);
console.log(`|---|${COUNTS.map(() => "---|").join("")}---|`);
for (const tool of TOOLS) {
  const row = COUNTS.map((n) => {
    const { run } = cells.get(`${tool}@${n}`)!;
    return run
      ? `${run.seconds.toFixed(2)} s · ${meanCpuPerGB(run).toFixed(2)} CPU-s/GB · ${
        maxRssMiB(run).toFixed(0)
      } MiB`
      : "FAILED";
  });
  const s = slope(seconds(tool));
  console.log(
    `| ${LABELS[tool]} | ${row.join(" | ")} | ${s === null ? "-" : `${(s * 1000).toFixed(0)} ms`} |`,
  );
}
for (const tool of TOOLS.filter((t) => CHAINS.includes(t))) {
  const hops = COUNTS.map((n) => cells.get(`${tool}@${n}`)!.run?.hopMs).filter((h): h is number => h != null);
  if (hops.length === 0) continue;
  console.log(
    `${LABELS[tool]}: delay per hop (last writes, head to tail) ${
      hops.map((h) => h.toFixed(1)).join(", ")
    } ms` +
      ` (file times: 4 ms steps)`,
  );
}
if (TOOLS.includes("kad")) {
  for (const peer of TOOLS.filter((t) => t !== "kad")) {
    const ratios = COUNTS.map((n) => {
      const mine = cells.get(`kad@${n}`)!.run;
      const theirs = cells.get(`${peer}@${n}`)!.run;
      return `N=${n} ${mine && theirs ? `${(theirs.seconds / mine.seconds).toFixed(2)}×` : "-"}`;
    });
    console.log(`kad speed vs ${LABELS[peer]}: ${ratios.join("  ")}`);
  }
}
await Deno.writeTextFile(
  values.plot!,
  renderSvgPlot({
    title: `${BYTES / 1e6} MB to N nodes, ${RATE} ports`,
    xLabel: "nodes",
    yLabel: "seconds",
    series: TOOLS.map((t) => ({ name: LABELS[t], points: seconds(t) })),
  }),
);
console.log(`plot: ${values.plot}`);
const failed = [...cells.values()].filter((c) => c.failure !== null);
if (failed.length > 0) {
  console.error(`\nbench:peers: ${failed.length} run(s) did not deliver verified copies (see FAILED above)`);
  Deno.exit(1);
}
