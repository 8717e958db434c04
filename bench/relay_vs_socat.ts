/**
 * kad against socat on loopback, every mode in one run, runs interleaved (the order rotates each
 * round) so a machine whose speed drifts treats every mode alike:
 *
 * 1. per hop: source → hop → tail; the hop is a `kad join --null` (default: sealed frames; and
 *    `--insecure`) or a `socat` relay. Throughput, the hop's CPU seconds per GB and its peak RSS.
 * 2. a chain of 4 nodes each writing a file: kad (`--out FILE`) vs `socat | tee FILE | socat`.
 *
 * Sources are equally cheap: `kad serve --bench` against socat reading /dev/zero. Every copy is
 * checked (kad: its verified report, and the files are BYTES long and alike; socat: each file is
 * BYTES zero bytes; the socat relay's tail counts what it got) and a
 * run that did not deliver fails the bench. Copies go to /dev/shm (tmpfs: no disk in the way, and
 * kad's fsync costs nothing there; socat|tee does not sync). The load average is printed before
 * and after.
 *
 * Usage: deno task bench [--bytes N] [--runs R] [--ring SIZE] [--tls] [--no-chain]
 * Needs socat and GNU time (apt-get install socat time).
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { makeTestPki } from "../tests/_helpers/test_pki.ts";
import {
  have,
  kadArgv,
  loadAverage,
  parseUsage,
  type ProcessUsage as Sample,
  TIME_FORMAT,
  waitListening,
} from "./_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    bytes: { type: "string", default: String(1e9) },
    runs: { type: "string", default: "3" },
    // the repair ring of every kad node (default: kad's own, 32 MiB); 0 keeps only the live window
    ring: { type: "string" },
    tls: { type: "boolean", default: false },
    "no-chain": { type: "boolean", default: false },
  },
});
const BYTES = Number(values.bytes);
const RUNS = Number(values.runs);
const KAD = kadArgv();
const TIME = `/usr/bin/time -f '${TIME_FORMAT}'`;
const q = (args: string[]) => args.map((a) => `'${a}'`).join(" ");

/** A way to run kad: its server's and its nodes' extra flags. */
interface KadMode {
  name: string;
  server: string[];
  node: string[];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

function sh(script: string, stdout: "piped" | "null" = "null"): Deno.ChildProcess {
  return new Deno.Command("sh", { args: ["-c", script], stdout, stderr: "piped" }).spawn();
}

/** The socat side's source: /dev/zero read by socat itself, as cheap as kad's generated source. */
const SOCAT_SENDER = (port: number) =>
  `exec socat -u OPEN:/dev/zero,readbytes=${BYTES} TCP:127.0.0.1:${port}`;

async function timed(child: Deno.ChildProcess): Promise<Sample> {
  const { stderr } = await child.output();
  return parseUsage(new TextDecoder().decode(stderr));
}

/** Starts `kad serve --bench BYTES`; `done` is its report's time, and fails unless every node verified. */
async function kadServer(mode: KadMode, clients: number): Promise<{ port: number; done: Promise<number> }> {
  const port = freePort();
  const server = sh(
    `exec ${q(KAD)} serve --bench ${BYTES} --listen 127.0.0.1 --port ${port} --clients ${clients} ` +
      `--order name --json ${q(mode.server)}`,
    "piped",
  );
  await waitListening(port);
  const done = server.output().then(({ stdout }) => {
    const lines = new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
    const report = lines.find((l) => l.event === "done")?.report;
    if (!report) throw new Error(`kad (${mode.name}) ended without a report`);
    const failed = report.nodes.filter((n: { status: string }) => n.status !== "ok");
    if (failed.length > 0 || report.bytes !== BYTES) {
      throw new Error(`kad (${mode.name}) did not deliver verified copies: ${JSON.stringify(failed)}`);
    }
    return report.seconds as number;
  });
  return { port, done };
}

function kadJoin(mode: KadMode, port: number, name: string, sink: string[], timedRun: boolean) {
  const args = [
    ...KAD,
    "join",
    "--server",
    `127.0.0.1:${port}`,
    "--name",
    name,
    "--listen",
    "127.0.0.1:0",
    ...(values.ring === undefined ? [] : ["--ring", values.ring]),
    ...mode.node,
    ...sink,
  ];
  return sh(`${timedRun ? TIME : "exec"} ${q(args)}`);
}

async function kadHop(mode: KadMode): Promise<Sample> {
  const { port, done } = await kadServer(mode, 2);
  const hop = kadJoin(mode, port, "a-hop", ["--null"], true);
  const tail = kadJoin(mode, port, "b-tail", ["--null"], false);
  const [sample, seconds] = await Promise.all([timed(hop), done, tail.output()]);
  return { ...sample, seconds };
}

async function socatHop(): Promise<Sample> {
  const p1 = freePort();
  const p2 = freePort();
  const tail = sh(`exec socat -u TCP-LISTEN:${p2},reuseaddr SYSTEM:'wc -c'`, "piped");
  await waitListening(p2);
  const hop = sh(`${TIME} socat -u TCP-LISTEN:${p1},reuseaddr TCP:127.0.0.1:${p2}`);
  await waitListening(p1);
  const t0 = performance.now();
  const sender = sh(SOCAT_SENDER(p1));
  const [sample, , received] = await Promise.all([timed(hop), sender.output(), tail.output()]);
  const seconds = (performance.now() - t0) / 1000;
  const count = Number(new TextDecoder().decode(received.stdout).trim());
  if (count !== BYTES) throw new Error(`the socat relay delivered ${count} bytes of ${BYTES}`);
  return { ...sample, seconds };
}

async function kadChain(mode: KadMode, dir: string): Promise<Sample> {
  const { port, done } = await kadServer(mode, 4);
  const files = [1, 2, 3, 4].map((i) => join(dir, `kad-${i}`));
  const nodes = files.map((file, i) => kadJoin(mode, port, `n${i + 1}`, ["--out", file], i === 1));
  const [sample, seconds] = await Promise.all([
    timed(nodes[1]),
    done,
    ...nodes.filter((_, i) => i !== 1).map((n) => n.output()),
  ]);
  await checkSame(files, `kad (${mode.name})`);
  return { ...sample, seconds };
}

async function socatChain(dir: string): Promise<Sample> {
  const ports = [1, 2, 3, 4].map(() => freePort());
  const files = [1, 2, 3, 4].map((i) => join(dir, `socat-${i}`));
  const procs: Deno.ChildProcess[] = [];
  procs.push(sh(`exec socat -u TCP-LISTEN:${ports[3]},reuseaddr OPEN:${files[3]},creat,trunc`));
  await waitListening(ports[3]);
  for (let i = 2; i >= 0; i--) {
    // a script file: socat's address syntax would split an inline command at its colons
    const script = join(dir, `relay-${i + 1}.sh`);
    await Deno.writeTextFile(
      script,
      `#!/bin/sh\ntee ${files[i]} | exec socat -u - TCP:127.0.0.1:${ports[i + 1]}\n`,
    );
    await Deno.chmod(script, 0o755);
    procs.push(sh(`${i === 1 ? TIME : "exec"} socat -u TCP-LISTEN:${ports[i]},reuseaddr EXEC:${script}`));
    await waitListening(ports[i]);
  }
  const t0 = performance.now();
  const sender = sh(SOCAT_SENDER(ports[0]));
  const measured = procs[2];
  const others = procs.filter((p) => p !== measured).map((p) => p.output());
  const [sample] = await Promise.all([timed(measured), sender.output(), ...others]);
  const seconds = (performance.now() - t0) / 1000;
  for (const file of files) await checkZeros(file, "socat|tee");
  return { ...sample, seconds };
}

/** Fails unless `file` holds exactly BYTES zero bytes (what both sources send). */
async function checkZeros(file: string, tool: string): Promise<void> {
  const size = (await Deno.stat(file)).size;
  if (size !== BYTES) throw new Error(`${tool}: ${file} holds ${size} bytes of ${BYTES}`);
  const cmp = await new Deno.Command("cmp", { args: ["--silent", "-n", String(BYTES), file, "/dev/zero"] })
    .output();
  if (!cmp.success) throw new Error(`${tool}: ${file} holds other bytes than zeros`);
}

/** Fails unless every file holds BYTES bytes, the same as the first (kad's generated pattern). */
async function checkSame(files: string[], tool: string): Promise<void> {
  for (const file of files) {
    const size = (await Deno.stat(file)).size;
    if (size !== BYTES) throw new Error(`${tool}: ${file} holds ${size} bytes of ${BYTES}`);
    const cmp = await new Deno.Command("cmp", { args: ["--silent", files[0], file] }).output();
    if (!cmp.success) throw new Error(`${tool}: ${file} differs from ${files[0]}`);
  }
}

async function emptyDir(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) await Deno.remove(join(dir, e.name));
}

/** Runs each row RUNS times, interleaved (the order rotates per round); the median of each. */
async function medians(rows: [string, () => Promise<Sample>][], dir: string): Promise<Map<string, Sample>> {
  const samples = new Map<string, Sample[]>(rows.map(([name]) => [name, []]));
  for (let round = 0; round < RUNS; round++) {
    for (let i = 0; i < rows.length; i++) {
      const [name, run] = rows[(i + round) % rows.length];
      samples.get(name)!.push(await run());
      await emptyDir(dir);
    }
  }
  const result = new Map<string, Sample>();
  for (const [name, list] of samples) {
    list.sort((a, b) => a.seconds - b.seconds);
    result.set(name, list[Math.floor(list.length / 2)]);
  }
  return result;
}

function row(name: string, s: Sample): string {
  const rate = BYTES / s.seconds / 1e6;
  const cpu = s.cpuSeconds / (BYTES / 1e9);
  return `${name.padEnd(38)} ${s.seconds.toFixed(2).padStart(7)} s ${rate.toFixed(0).padStart(6)} MB/s ` +
    `${cpu.toFixed(2).padStart(6)} CPU-s/GB ${(s.rssKiB / 1024).toFixed(0).padStart(5)} MiB RSS`;
}

const cpuPerGB = (s: Sample) => s.cpuSeconds / (BYTES / 1e9);

for (const tool of ["/usr/bin/time", "socat"]) {
  if (!have(tool)) {
    console.error(`${tool} is not installed (apt-get install socat time)`);
    Deno.exit(1);
  }
}
const pkiDir = values.tls ? await Deno.makeTempDir({ prefix: "kad-bench-pki-" }) : null;
const pki = pkiDir === null ? null : await makeTestPki(pkiDir);
const modes: KadMode[] = [
  { name: "default", server: [], node: [] },
  { name: "--insecure", server: ["--insecure"], node: ["--insecure"] },
  ...(pki
    ? [{
      name: "--tls",
      server: ["--tls", "--cert", pki.cert, "--key", pki.key, "--ca", pki.ca],
      node: ["--tls", "--ca", pki.ca],
    }]
    : []),
];
const dir = await Deno.makeTempDir({ prefix: "kad-bench-", dir: "/dev/shm" });
console.log(
  `kad vs socat on loopback, ${(BYTES / 1e9).toFixed(1)} GB per run, median of ${RUNS} interleaved runs`,
);
console.log(`CPU and RSS are the measured hop's (the middle node); copies in ${dir} (tmpfs)`);
console.log(`load average before: ${loadAverage()}\n`);
try {
  const hops = await medians([
    ...modes.map((
      mode,
    ): [string, () => Promise<Sample>] => [`per hop: kad ${mode.name}`, () => kadHop(mode)]),
    ["per hop: socat relay", socatHop],
  ], dir);
  for (const [name, sample] of hops) console.log(row(name, sample));
  const kadDefault = hops.get("per hop: kad default")!;
  const insecure = hops.get("per hop: kad --insecure")!;
  const socat = hops.get("per hop: socat relay")!;
  console.log(
    `  default vs --insecure, CPU per hop: ${(cpuPerGB(kadDefault) / cpuPerGB(insecure)).toFixed(2)}×`,
  );
  console.log(`  default vs socat relay, throughput: ${(socat.seconds / kadDefault.seconds).toFixed(2)}×\n`);
  if (!values["no-chain"]) {
    const chains = await medians([
      ...modes.map((mode): [string, () => Promise<Sample>] => [
        `chain of 4 writing files: kad ${mode.name}`,
        () => kadChain(mode, dir),
      ]),
      ["chain of 4 writing files: socat|tee", () => socatChain(dir)],
    ], dir);
    for (const [name, sample] of chains) console.log(row(name, sample));
    const kc = chains.get("chain of 4 writing files: kad default")!;
    const sc = chains.get("chain of 4 writing files: socat|tee")!;
    console.log(`  default vs socat|tee, throughput: ${(sc.seconds / kc.seconds).toFixed(2)}×`);
  }
  console.log(`\nload average after: ${loadAverage()}`);
} finally {
  await Deno.remove(dir, { recursive: true });
  if (pkiDir !== null) await Deno.remove(pkiDir, { recursive: true });
}
