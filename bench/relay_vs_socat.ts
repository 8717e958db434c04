/**
 * kad against socat on loopback, side by side in one run:
 *
 * Sources are equally cheap: `kad serve --bench` against socat reading /dev/zero.
 *
 * 1. per-hop forwarding: source → hop → tail; the hop is a `kad join --null` or a `socat` relay.
 *    Throughput, the hop's CPU seconds per GB and its peak RSS (GNU time).
 * 2. a chain of 4 nodes each writing a file: kad (`--out FILE`) vs `socat | tee FILE | socat`.
 *
 * Usage: deno run -A bench/relay_vs_socat.ts [--bytes N] [--runs R] [--ring SIZE] [--insecure | --tls]
 * (--insecure: kad without authentication, to measure what the frame MACs cost; --tls: kad with
 * TLS on every link, certificates made by openssl, to measure what encryption costs)
 * Needs socat and GNU time (apt-get install socat time); rows that need a missing tool are skipped.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { makeTestPki } from "../tests/_helpers/test_pki.ts";
import { exists, have, kadArgv, waitListening } from "./_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    bytes: { type: "string", default: String(2e9) },
    runs: { type: "string", default: "3" },
    // the repair ring of every kad node (default: kad's own, 32 MiB); 0 keeps only the live window
    ring: { type: "string" },
    insecure: { type: "boolean", default: false },
    tls: { type: "boolean", default: false },
  },
});
const pkiDir = values.tls ? await Deno.makeTempDir({ prefix: "kad-bench-pki-" }) : null;
const pki = pkiDir === null ? null : await makeTestPki(pkiDir);
const SERVER_SECURITY = values.insecure
  ? ["--insecure"]
  : pki
  ? ["--tls", "--cert", pki.cert, "--key", pki.key, "--ca", pki.ca]
  : [];
const NODE_SECURITY = values.insecure ? ["--insecure"] : pki ? ["--tls", "--ca", pki.ca] : [];
const BYTES = Number(values.bytes);
const RUNS = Number(values.runs);
const KAD = kadArgv();

interface Sample {
  seconds: number;
  cpuSeconds: number;
  rssKiB: number;
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
const TIME = "/usr/bin/time -f 'TIME %e %U %S %M'";
const q = (args: string[]) => args.map((a) => `'${a}'`).join(" ");

async function timed(child: Deno.ChildProcess): Promise<Sample> {
  const { stderr } = await child.output();
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(new TextDecoder().decode(stderr));
  if (!m) throw new Error(`no timing in: ${new TextDecoder().decode(stderr)}`);
  return { seconds: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), rssKiB: Number(m[4]) };
}

/** Starts `kad serve --bench BYTES` (a source at memory speed); returns the port and the exit. */
async function kadServer(clients: number): Promise<{ port: number; done: Promise<number> }> {
  const port = freePort();
  const server = sh(
    `exec ${
      q(KAD)
    } serve --bench ${BYTES} --listen 127.0.0.1 --port ${port} --clients ${clients} --order name --json ${
      q(SERVER_SECURITY)
    }`,
    "piped",
  );
  await waitListening(port);
  const done = server.output().then(({ stdout }) => {
    const lines = new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
    const report = lines.find((l) => l.event === "done")!.report;
    const failed = report.nodes.filter((n: { status: string }) => n.status !== "ok");
    if (failed.length > 0) throw new Error(`kad run failed: ${JSON.stringify(failed)}`);
    return report.seconds as number;
  });
  return { port, done };
}

function kadJoin(port: number, name: string, sink: string[], timedRun: boolean): Deno.ChildProcess {
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
    ...NODE_SECURITY,
    ...sink,
  ];
  return sh(`${timedRun ? TIME : "exec"} ${q(args)}`);
}

async function kadHop(): Promise<Sample> {
  const { port, done } = await kadServer(2);
  const hop = kadJoin(port, "a-hop", ["--null"], true);
  const tail = kadJoin(port, "b-tail", ["--null"], false);
  const [sample, seconds] = await Promise.all([timed(hop), done, tail.output()]);
  return { ...sample, seconds };
}

async function socatHop(): Promise<Sample> {
  const p1 = freePort();
  const p2 = freePort();
  const tail = sh(`exec socat -u TCP-LISTEN:${p2},reuseaddr OPEN:/dev/null`);
  await waitListening(p2);
  const hop = sh(`${TIME} socat -u TCP-LISTEN:${p1},reuseaddr TCP:127.0.0.1:${p2}`);
  await waitListening(p1);
  const t0 = performance.now();
  const sender = sh(SOCAT_SENDER(p1));
  const [sample] = await Promise.all([timed(hop), sender.output(), tail.output()]);
  return { ...sample, seconds: (performance.now() - t0) / 1000 };
}

async function kadChain(dir: string): Promise<Sample> {
  const { port, done } = await kadServer(4);
  const nodes = [1, 2, 3, 4].map((i) => kadJoin(port, `n${i}`, ["--out", join(dir, `kad-${i}`)], i === 2));
  const [sample, seconds] = await Promise.all([
    timed(nodes[1]),
    done,
    ...nodes.filter((_, i) => i !== 1).map((n) => n.output()),
  ]);
  return { ...sample, seconds };
}

async function socatChain(dir: string): Promise<Sample> {
  const ports = [1, 2, 3, 4].map(() => freePort());
  const procs: Deno.ChildProcess[] = [];
  procs.push(sh(`exec socat -u TCP-LISTEN:${ports[3]},reuseaddr OPEN:${join(dir, "socat-4")},creat,trunc`));
  await waitListening(ports[3]);
  for (let i = 2; i >= 0; i--) {
    // a script file: socat's address syntax would split an inline command at its colons
    const script = join(dir, `relay-${i + 1}.sh`);
    await Deno.writeTextFile(
      script,
      `#!/bin/sh\ntee ${join(dir, `socat-${i + 1}`)} | exec socat -u - TCP:127.0.0.1:${ports[i + 1]}\n`,
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
  return { ...sample, seconds: (performance.now() - t0) / 1000 };
}

async function emptyDir(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) await Deno.remove(join(dir, e.name));
}

async function median(run: () => Promise<Sample>, dir?: string): Promise<Sample> {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    samples.push(await run());
    if (dir) await emptyDir(dir);
  }
  samples.sort((a, b) => a.seconds - b.seconds);
  return samples[Math.floor(samples.length / 2)];
}

function row(name: string, s: Sample): string {
  const rate = BYTES / s.seconds / 1e6;
  const cpu = s.cpuSeconds / (BYTES / 1e9);
  return `${name.padEnd(34)} ${s.seconds.toFixed(2).padStart(7)} s ${rate.toFixed(0).padStart(6)} MB/s ` +
    `${cpu.toFixed(2).padStart(6)} CPU-s/GB ${(s.rssKiB / 1024).toFixed(0).padStart(5)} MiB RSS`;
}

if (!have("/usr/bin/time")) {
  console.log("GNU time is not installed (apt-get install time): cannot measure CPU and RSS; skipped.");
  Deno.exit(0);
}
const mode = values.insecure
  ? "--insecure"
  : values.tls
  ? "--tls (token + TLS)"
  : "authenticated (token, MACs)";
console.log(
  `kad vs socat on loopback, ${(BYTES / 1e9).toFixed(1)} GB per run, median of ${RUNS}, kad ${mode}`,
);
console.log(`(CPU and RSS are those of the measured hop: the middle node)\n`);
// files go to tmpfs when there is one: the comparison is of the tools, not of the disk (kad fsyncs)
const dir = await Deno.makeTempDir({
  prefix: "kad-bench-",
  dir: exists("/dev/shm", "dir") ? "/dev/shm" : undefined,
});
try {
  const kh = await median(kadHop);
  console.log(row("per hop: kad join --null", kh));
  const socat = have("socat");
  if (socat) {
    const sh1 = await median(socatHop);
    console.log(row("per hop: socat relay", sh1));
    console.log(`  kad/socat throughput: ${(sh1.seconds / kh.seconds).toFixed(2)}×\n`);
  } else console.log("socat not installed (apt-get install socat): peer rows skipped\n");
  const kc = await median(() => kadChain(dir), dir);
  console.log(row("chain of 4 writing files: kad", kc));
  if (socat) {
    const sc = await median(() => socatChain(dir), dir);
    console.log(row("chain of 4 writing files: socat|tee", sc));
    console.log(`  kad/socat-tee throughput: ${(sc.seconds / kc.seconds).toFixed(2)}×`);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
  if (pkiDir !== null) await Deno.remove(pkiDir, { recursive: true });
}
