/**
 * `kad demo`: a whole deployment on this machine — a server and N nodes as separate processes on
 * loopback, each node extracting into its own temporary directory — then every clone is compared
 * with the source.
 *
 * @module
 */

import { join } from "node:path";
import type { DeploymentReport } from "../lib/report/report.ts";
import { allOk } from "../lib/report/report.ts";
import { buildSampleTree } from "../lib/verify/sample_tree.ts";
import { compareTrees } from "../lib/verify/tree_compare.ts";
import { int, type ParsedFlags, seconds, UsageError } from "./flags.ts";
import { renderReport } from "./report_table.ts";
import { selfCommand } from "./self_exec.ts";
import { interruptSignal } from "./signals.ts";
import { paint, stderrOut, stdoutOut, type TextOut, useColor } from "./terminal.ts";

/** Runs the demo; returns 0 only when every clone is identical to the source. */
export async function demoCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  if (positionals.length > 1) throw new UsageError(`Too many arguments: ${positionals.join(" ")}`, "demo");
  const nodes = int(flags, "nodes", "demo", 1, 64) ?? 4;
  const fanout = int(flags, "fanout", "demo", 1, 8) ?? 1;
  const timeout = seconds(flags, "timeout", "demo") ?? 30;
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
    const self = selfCommand();
    const server = spawn(self, [
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
      "--timeout",
      String(timeout),
      "--json",
    ], "piped");
    children.push(server);
    const events = jsonLines(server.stdout);
    const port = await waitForPort(events);
    err.write(`kad demo: server on 127.0.0.1:${port}; starting ${nodes} node(s)\n`);
    const targets: string[] = [];
    for (let i = 1; i <= nodes; i++) {
      const target = join(tmp, `node-${i}`);
      await Deno.mkdir(target);
      targets.push(target);
      children.push(spawn(
        self,
        [
          "join",
          "--server",
          `127.0.0.1:${port}`,
          "--to",
          target,
          "--name",
          `node-${i}`,
          "--listen",
          "127.0.0.1:0",
          "--timeout",
          String(timeout),
        ],
        "null",
        "piped",
      ));
    }
    interrupt.signal.addEventListener("abort", () => children.forEach((c) => kill(c)), { once: true });
    const report = await waitForReport(events);
    await Promise.all(
      children.slice(1).map(async (node, i) => {
        const { code, stderr } = await node.output();
        if (code !== 0) {
          err.write(`kad demo: node-${i + 1} exited with ${code}:\n${new TextDecoder().decode(stderr)}`);
        }
      }),
    );
    await server.status;
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
    for (const child of children) kill(child);
    await Promise.all(children.map((c) => c.status.catch(() => {})));
    interrupt.dispose();
    if (flags.keep === true) err.write(`kad demo: kept ${tmp}\n`);
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

function spawn(
  self: string[],
  args: string[],
  stdout: "piped" | "null",
  stderr: "piped" | "inherit" = "inherit",
): Deno.ChildProcess {
  return new Deno.Command(self[0], { args: [...self.slice(1), ...args], stdin: "null", stdout, stderr })
    .spawn();
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGTERM");
  } catch {
    // already exited
  }
}

async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  let buffered = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
}

async function waitForPort(events: AsyncGenerator<Record<string, unknown>>): Promise<number> {
  // not for-await: leaving such a loop would close the generator
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error("The demo server exited before listening");
    if (value.event === "listening") return value.port as number;
  }
}

async function waitForReport(
  events: AsyncGenerator<Record<string, unknown>>,
): Promise<DeploymentReport | null> {
  let report: DeploymentReport | null = null;
  for await (const event of events) {
    if (event.event === "done") report = event.report as DeploymentReport;
  }
  return report;
}
