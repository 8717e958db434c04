/**
 * `kad simulate`: a deployment too large for this machine, simulated with the real planner and
 * the real repair coordinator (lib/simulation/simulator.ts), calibrated against netlab runs
 * (lib/simulation/calibration.ts). Prints time, efficiency, repairs and the worst node's lag per
 * fan-out; `--plot` draws time against the number of nodes.
 *
 * @module
 */

import { CALIBRATION } from "../lib/simulation/calibration.ts";
import { type Scenario, simulate } from "../lib/simulation/simulator.ts";
import { parseRate } from "../lib/netlab/netlab.ts";
import { type FlagSpec, type ParsedFlags, read, UsageError } from "./flags.ts";
import { SIMULATE_FLAGS as F } from "./commands.ts";
import { formatBytes } from "./progress.ts";
import { renderSvgPlot } from "./svg_plot.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** Runs `kad simulate`; returns the exit code. */
export async function simulateCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`, "simulate");
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "simulate");
  const fanouts = list(get(F.fanout)!, "fanout", 1, 8);
  const base: Scenario = {
    nodes: get(F.nodes)!,
    fanout: 1,
    bytes: get(F.size)!,
    rateBps: rate(get(F.rate)!),
    ...CALIBRATION,
    failShare: share(get(F.fail)!, "fail"),
    failKind: get(F.failKind)!,
    slowShare: share(get(F.slow)!, "slow"),
    slowSpeed: get(F.slowSpeed)!,
    seed: get(F.seed)!,
  };
  const out = stdoutOut();
  const started = performance.now();
  out.write(
    `kad simulate: ${base.nodes} nodes, ${formatBytes(base.bytes)} at ${get(F.rate)} per port, ` +
      `${pct(base.failShare)} ${base.failKind}, ${pct(base.slowShare)} slow at ${pct(base.slowSpeed)}\n`,
  );
  out.write("fanout  depth  time        efficiency  repairs  failed  stalled  worst lag\n");
  for (const fanout of fanouts) {
    const r = simulate({ ...base, fanout });
    out.write(
      `${String(fanout).padEnd(8)}${String(r.depth).padEnd(7)}${(r.seconds.toFixed(1) + " s").padEnd(12)}` +
        `${pct(r.efficiency).padEnd(12)}${String(r.repairs).padEnd(9)}${String(r.failedNodes).padEnd(8)}` +
        `${(r.stalledSeconds.toFixed(1) + " s").padEnd(9)}${r.worstLagSeconds.toFixed(2)} s\n`,
    );
  }
  const plot = get(F.plot);
  if (plot) {
    const counts = [1, 10, 100, 1000, 10_000, 100_000].filter((n) => n <= base.nodes);
    if (!counts.includes(base.nodes)) counts.push(base.nodes);
    await Deno.writeTextFile(
      plot,
      renderSvgPlot({
        title: `simulated: ${formatBytes(base.bytes)} at ${get(F.rate)}`,
        xLabel: "nodes",
        yLabel: "seconds",
        xLog: true,
        series: fanouts.map((fanout) => ({
          name: fanout === 1 ? "chain" : `fan-out ${fanout}`,
          points: counts.map((n) => [n, simulate({ ...base, nodes: n, fanout }).seconds] as [number, number]),
        })),
      }),
    );
    stderrOut().write(`kad simulate: plot written to ${plot}\n`);
  }
  stderrOut().write(`kad simulate: ${((performance.now() - started) / 1000).toFixed(1)} s of simulation\n`);
  return 0;
}

function list(text: string, flag: string, min: number, max: number): number[] {
  const values = text.split(",").map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < min || v > max)) {
    throw new UsageError(
      `Option --${flag} takes numbers from ${min} to ${max} such as 1,2,4, got "${text}"`,
      "simulate",
    );
  }
  return values;
}

function share(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const v = m ? Number(m[1]) / 100 : NaN;
  if (!(v >= 0 && v <= 1)) {
    throw new UsageError(`Option --${flag} takes a share such as 0.5%, got "${text}"`, "simulate");
  }
  return v;
}

function rate(text: string): number {
  try {
    return parseRate(text);
  } catch {
    throw new UsageError(`Option --rate takes a rate such as 10gbit, got "${text}"`, "simulate");
  }
}

function pct(v: number): string {
  return `${(v * 100).toFixed(v < 0.1 ? 2 : 1)}%`;
}
