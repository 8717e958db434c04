/**
 * `kad demo`: a whole deployment on this machine — a server and N nodes as separate processes on
 * loopback, each node extracting into its own temporary directory — then every clone is compared
 * with the source.
 *
 * @module
 */

import { join } from "node:path";
import { allOk } from "../lib/report/report.ts";
import { buildSampleTree } from "../lib/verify/sample_tree.ts";
import { compareTrees } from "../lib/verify/tree_compare.ts";
import { given, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, DEMO_FLAGS } from "./commands.ts";
import { renderReport } from "./report_table.ts";
import { nodeFailures, startNode, startServer, terminate } from "./local_run.ts";
import { interruptSignal } from "./signals.ts";
import { paint, stderrOut, stdoutOut, type TextOut, useColor } from "./terminal.ts";

/** Runs the demo; returns 0 only when every clone is identical to the source. */
export async function demoCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  if (positionals.length > 1) throw new UsageError(`Too many arguments: ${positionals.join(" ")}`, "demo");
  const nodes = read(flags, DEMO_FLAGS.nodes, "demo")!;
  const fanout = read(flags, COMMON.fanout, "demo")!;
  // the demo's processes get --timeout only when it was given: their defaults are kad's own
  const timeout = given(flags, COMMON.timeout)
    ? ["--timeout", String(read(flags, COMMON.timeout, "demo")! / 1000)]
    : [];
  const out = stdoutOut();
  const err = stderrOut();
  const color = useColor(out);
  const tmp = await Deno.makeTempDir({ prefix: "kad-demo-" });
  const interrupt = interruptSignal();
  const children: Deno.ChildProcess[] = [];
  try {
    let source = positionals[0];
    if (source === undefined) {
      source = join(tmp, "source");
      await Deno.mkdir(source);
      await buildSampleTree(source, { largeFileBytes: 8 * 1024 * 1024 });
      err.write(`kad demo: built a sample tree in ${source}\n`);
    }
    const server = await startServer([
      "serve",
      source,
      "--listen",
      "127.0.0.1",
      "--port",
      "0",
      "--clients",
      String(nodes),
      "--fanout",
      String(fanout),
      ...timeout,
    ]);
    children.push(server.child);
    err.write(`kad demo: server on 127.0.0.1:${server.port}; starting ${nodes} node(s)\n`);
    const targets: string[] = [];
    const names: string[] = [];
    const nodeProcesses: Deno.ChildProcess[] = [];
    for (let i = 1; i <= nodes; i++) {
      const target = join(tmp, `node-${i}`);
      await Deno.mkdir(target);
      targets.push(target);
      names.push(`node-${i}`);
      nodeProcesses.push(startNode([
        "--server",
        `127.0.0.1:${server.port}`,
        "--to",
        target,
        "--name",
        `node-${i}`,
        "--listen",
        "127.0.0.1:0",
        ...timeout,
      ]));
    }
    children.push(...nodeProcesses);
    interrupt.signal.addEventListener("abort", () => children.forEach(terminate), { once: true });
    const report = await server.report;
    for (const failure of await nodeFailures(nodeProcesses, names)) err.write(`kad demo: ${failure}`);
    await server.child.status;
    if (report === null) {
      err.write("kad demo: the server ended without a report\n");
      return 1;
    }
    out.write(renderReport(report, color));
    const identical = await checkClones(source, targets, out, color);
    const ok = identical && allOk(report);
    out.write(
      ok
        ? paint(`kad demo: all ${nodes} clone(s) are identical to the source\n`, "green", color)
        : paint("kad demo: FAILED: not every clone is identical to the source\n", "red", color),
    );
    return ok ? 0 : 1;
  } finally {
    for (const child of children) terminate(child);
    await Promise.all(children.map((c) => c.status.catch(() => {})));
    interrupt.dispose();
    if (read(flags, DEMO_FLAGS.keep, "demo")) err.write(`kad demo: kept ${tmp}\n`);
    else await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function checkClones(
  source: string,
  targets: string[],
  out: TextOut,
  color: boolean,
): Promise<boolean> {
  let all = true;
  for (const [i, target] of targets.entries()) {
    const diffs = await compareTrees(source, target);
    if (diffs.length === 0) {
      out.write(`check node-${i + 1}: identical (content, modes, owners, links, hardlinks, times)\n`);
      continue;
    }
    all = false;
    out.write(paint(`check node-${i + 1}: ${diffs.length} difference(s)\n`, "red", color));
    for (const d of diffs) out.write(`  ${d.path}: ${d.what}\n`);
  }
  return all;
}
