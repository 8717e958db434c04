/**
 * `kad bench`: `chain` runs real serve + N joins on a netlab (a bridge and namespaces, ports
 * shaped with tc; loopback when not root) for each N and reports time, throughput, efficiency
 * against the port rate, per-node throughput and peak RSS; `link` measures one real link.
 *
 * @module
 */

import { join as joinPath } from "node:path";
import { join } from "../lib/node/join.ts";
import { canBuildNetlab, Netlab, parseRate } from "../lib/netlab/netlab.ts";
import { allOk, type DeploymentReport, nodeRate, type StreamProtection } from "../lib/report/report.ts";
import { type FlagSpec, given, hostPort, type ParsedFlags, read, UsageError } from "./flags.ts";
import { BENCH_FLAGS as F, COMMON, JOIN_FLAGS } from "./commands.ts";
import { DEFAULT_CONTROL_PORT } from "../lib/protocol/frame.ts";
import { INSECURE_WARNING, tokenChoice } from "./join_token_option.ts";
import { nodeTls } from "./tls_option.ts";
import { nodeFailures, startNode, startServer, terminate } from "./local_run.ts";
import { formatBytes } from "./progress.ts";
import { interruptSignal } from "./signals.ts";
import { renderSvgPlot } from "./svg_plot.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** One chain run's numbers. */
export interface ChainRow {
  /** Number of nodes. */
  nodes: number;
  /** Seconds from the first byte to the last report. */
  seconds: number;
  /** Throughput in MB/s (10^6 bytes). */
  mbPerSecond: number;
  /** Payload bits per second over the port rate, or null on loopback. */
  efficiency: number | null;
  /** Slowest node's MB/s. */
  slowestNode: number;
  /** Fastest node's MB/s. */
  fastestNode: number;
  /** Largest peak RSS among the nodes, in bytes. */
  peakRssBytes: number;
  /** Largest share of this host's CPU (all cores) used by one node over the run, or null if unknown. */
  nodeCpuShare: number | null;
  /** How the stream was protected (the server's report says). */
  protection: StreamProtection;
  /** True when every node verified its copy. */
  ok: boolean;
}

interface ChainOptions {
  counts: number[];
  rate: string;
  bytes: number;
  sink: "null" | "file";
  fanout: number;
  timeoutMs: number;
  /** Runs the chain without a token and with plain frames (`--insecure`). */
  insecure: boolean;
}

/** Runs `kad bench`; returns the exit code. */
export async function benchCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const [mode, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`Unexpected argument "${rest[0]}"`, "bench");
  if (mode === "link") return await benchLink(flags);
  if (mode !== "chain") throw new UsageError('Say what to measure: "chain" or "link"', "bench");
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "bench");
  const linkOnly = [JOIN_FLAGS.tls, JOIN_FLAGS.ca, COMMON.token, COMMON.tokenFile].find((f) =>
    given(flags, f)
  );
  if (linkOnly) {
    throw new UsageError(
      `--${linkOnly.name} applies to \`kad bench link\`: a chain bench runs its own server, ` +
        "authenticated with a token of its own (or --insecure)",
      "bench",
    );
  }
  const options: ChainOptions = {
    counts: nodeCounts(get(F.nodes)!),
    rate: get(F.rate)!,
    bytes: get(F.size)!,
    sink: get(F.sink)!,
    fanout: get(COMMON.fanout)!,
    timeoutMs: get(COMMON.timeout)!,
    insecure: given(flags, COMMON.insecure),
  };
  parseRate(options.rate);
  const err = stderrOut();
  const out = stdoutOut();
  const lab = canBuildNetlab();
  err.write(
    `kad bench chain: ${formatBytes(options.bytes)} per run, ` +
      (lab
        ? `ports shaped at ${options.rate} (netlab: a bridge and one namespace per host), `
        : "loopback, unshaped (not root: no netlab), ") +
      `sink ${options.sink}, ${options.insecure ? "--insecure (no token, plain frames)" : "authenticated"}\n`,
  );
  const interrupt = interruptSignal();
  const rows: ChainRow[] = [];
  try {
    for (const n of options.counts) {
      if (interrupt.signal.aborted) break;
      const row = await runChain(n, options, lab, interrupt.signal);
      rows.push(row);
      if (get(COMMON.json)) out.write(JSON.stringify({ event: "bench-row", ...row }) + "\n");
      else err.write(`  N=${n}: ${row.seconds.toFixed(2)} s${row.ok ? "" : " (NOT all verified)"}\n`);
    }
  } finally {
    interrupt.dispose();
  }
  if (!get(COMMON.json)) out.write(renderRows(rows));
  const plot = get(F.plot);
  if (plot) {
    await Deno.writeTextFile(
      plot,
      renderSvgPlot({
        title: `kad chain: ${formatBytes(options.bytes)}${
          lab ? ` at ${options.rate} per port` : " on loopback"
        }`,
        xLabel: "nodes",
        yLabel: "seconds",
        series: [{ name: "kad", points: rows.map((r) => [r.nodes, r.seconds]) }],
      }),
    );
    err.write(`kad bench: plot written to ${plot}\n`);
  }
  return rows.length === options.counts.length && rows.every((r) => r.ok) ? 0 : 1;
}

async function runChain(
  n: number,
  options: ChainOptions,
  useLab: boolean,
  signal: AbortSignal,
): Promise<ChainRow> {
  const dir = await Deno.makeTempDir({ prefix: "kad-bench-" });
  const lab = useLab ? await Netlab.create({ hosts: n + 1, shape: { rate: options.rate } }) : null;
  const children: Deno.ChildProcess[] = [];
  const stop = () => children.forEach(terminate);
  signal.addEventListener("abort", stop, { once: true });
  try {
    const wrap = (i: number) => lab ? lab.exec(lab.hosts[i], []) : [];
    const server = await startServer(
      [
        "serve",
        "--bench",
        String(options.bytes),
        "--clients",
        String(n),
        "--fanout",
        String(options.fanout),
        "--order",
        "name",
        "--listen",
        lab ? "0.0.0.0" : "127.0.0.1",
        "--port",
        "0",
        "--timeout",
        String(options.timeoutMs / 1000),
        ...(options.insecure ? ["--insecure"] : []),
      ],
      wrap(0),
      true,
    );
    children.push(server.child);
    const serverHost = lab ? lab.hosts[0].address : "127.0.0.1";
    const names = Array.from({ length: n }, (_, i) => `node-${String(i + 1).padStart(3, "0")}`);
    const nodes = names.map((name, i) =>
      startNode([
        "--server",
        `${serverHost}:${server.port}`,
        "--name",
        name,
        "--listen",
        lab ? "0.0.0.0:0" : "127.0.0.1:0",
        "--timeout",
        String(options.timeoutMs / 1000),
        ...(options.sink === "null" ? ["--null"] : ["--out", joinPath(dir, name)]),
        ...(options.insecure ? ["--insecure"] : []),
      ], wrap(i + 1))
    );
    children.push(...nodes);
    const report = await server.report;
    const failures = await nodeFailures(nodes, names);
    await server.child.status;
    if (report === null) throw new Error(`The bench server for N=${n} ended without a report`);
    for (const f of failures) stderrOut().write(`kad bench: ${f}`);
    return chainRow(n, report, lab ? parseRate(options.rate) : null);
  } finally {
    signal.removeEventListener("abort", stop);
    stop();
    await lab?.destroy();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Turns a report into a bench row. */
export function chainRow(n: number, report: DeploymentReport, rateBits: number | null): ChainRow {
  const rates = report.nodes.map(nodeRate);
  const bitsPerSecond = report.seconds > 0 ? (report.bytes * 8) / report.seconds : 0;
  return {
    nodes: n,
    seconds: report.seconds,
    mbPerSecond: report.seconds > 0 ? report.bytes / report.seconds / 1e6 : 0,
    efficiency: rateBits ? bitsPerSecond / rateBits : null,
    slowestNode: Math.min(...rates),
    fastestNode: Math.max(...rates),
    peakRssBytes: Math.max(0, ...report.nodes.map((r) => r.rssBytes ?? 0)),
    nodeCpuShare: cpuShare(report),
    protection: report.protection,
    ok: allOk(report),
  };
}

/** The busiest node's CPU seconds over the run's seconds and this host's cores. */
function cpuShare(report: DeploymentReport): number | null {
  const cpu = report.nodes.map((n) => n.cpuSeconds).filter((c): c is number => c !== null);
  if (cpu.length === 0 || report.seconds <= 0) return null;
  return Math.max(...cpu) / report.seconds / navigator.hardwareConcurrency;
}

/** Formats rows as a table. */
export function renderRows(rows: ChainRow[]): string {
  const lines = [" N   time       MB/s   efficiency  node MB/s (min–max)  peak RSS  CPU/node  verified"];
  for (const r of rows) {
    lines.push(
      `${String(r.nodes).padStart(2)}  ${r.seconds.toFixed(2).padStart(7)} s  ${
        r.mbPerSecond.toFixed(1).padStart(6)
      }  ` +
        `${r.efficiency === null ? "    -     " : `${(r.efficiency * 100).toFixed(1).padStart(6)} %  `}  ` +
        `${`${r.slowestNode.toFixed(1)}–${r.fastestNode.toFixed(1)}`.padEnd(19)}  ` +
        `${(r.peakRssBytes / 2 ** 20).toFixed(0).padStart(4)} MiB  ` +
        `${r.nodeCpuShare === null ? "     -  " : `${(r.nodeCpuShare * 100).toFixed(1).padStart(5)} %  `}  ` +
        `${r.ok ? "yes" : "NO"}`,
    );
  }
  if (rows.length > 1) {
    lines.push(
      `time(${rows.at(-1)!.nodes}) / time(${rows[0].nodes}) = ${
        (rows.at(-1)!.seconds / rows[0].seconds).toFixed(3)
      }`,
    );
  }
  return lines.join("\n") + "\n";
}

function nodeCounts(list: string): number[] {
  const counts = list.split(",").map((s) => s.trim());
  if (counts.some((c) => !/^\d+$/.test(c) || Number(c) < 1 || Number(c) > 200)) {
    throw new UsageError(`Option --nodes takes counts from 1 to 200 such as 1,2,4,8, got "${list}"`, "bench");
  }
  return counts.map(Number);
}

async function benchLink(flags: ParsedFlags): Promise<number> {
  const server = read(flags, F.server, "bench");
  if (server === undefined) {
    throw new UsageError(
      "Missing --server HOST[:PORT] (run `kad serve --bench 1GB --clients 1` there)",
      "bench",
    );
  }
  const { token } = await tokenChoice(flags, "bench", "node");
  const tls = await nodeTls(flags, "bench");
  if (token === null) stderrOut().write(INSECURE_WARNING + "\n");
  const interrupt = interruptSignal();
  try {
    const result = await join({
      server: hostPort(server, DEFAULT_CONTROL_PORT, "bench"),
      name: `bench-${Deno.hostname()}`,
      token,
      tls,
      sink: { kind: "null" },
      listen: { host: "0.0.0.0", port: 0 },
      advertise: "",
      timeoutMs: read(flags, COMMON.timeout, "bench"),
      signal: interrupt.signal,
    });
    const rate = result.seconds > 0 ? result.bytes / result.seconds : 0;
    stdoutOut().write(
      `link ${server}: ${formatBytes(result.bytes)} in ${result.seconds.toFixed(2)} s = ${
        (rate / 1e6).toFixed(1)
      } MB/s ` +
        `(${((rate * 8) / 1e6).toFixed(0)} Mbit/s), ${
          result.status === "ok" ? "verified" : `FAILED ${result.error?.code}`
        }\n`,
    );
    return result.status === "ok" ? 0 : 1;
  } finally {
    interrupt.dispose();
  }
}
