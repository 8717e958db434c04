/**
 * `kad run -- COMMAND`: a command on every agent, its output prefixed by node (or folded with
 * `--group`), then a table of exit codes; non-zero when any node failed.
 *
 * @module
 */

import { newJobId } from "../lib/protocol/agent_messages.ts";
import { OutputGroups } from "../lib/cluster/output_groups.ts";
import { type FlagSpec, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, RUN_FLAGS as F } from "./commands.ts";
import { connectHead, nodeSelection, outcomeTable } from "./head_client_option.ts";
import { interruptSignal } from "./signals.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** Runs `kad run`; returns the exit code. */
export async function runCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "run");
  if (positionals.length === 0) {
    throw new UsageError("Missing the command: kad run [options] -- COMMAND", "run");
  }
  // joined with spaces and run by sh -c on each node, as ssh and pdsh do
  const command = positionals.join(" ");
  const nodes = nodeSelection(flags, "run");
  const group = get(F.group)!;
  const json = get(COMMON.json)!;
  const out = stdoutOut();
  const err = stderrOut();
  const client = await connectHead(flags, "run");
  const interrupt = interruptSignal();
  interrupt.signal.addEventListener("abort", () => client.close());
  const groups = new OutputGroups();
  const outcomes = new Map<string, string>();
  let failed = 0;
  const note = (node: string, outcome: string, bad: boolean) => {
    outcomes.set(node, outcome);
    if (bad) failed++;
    if (json) out.write(JSON.stringify({ event: "exit", node, outcome, ok: !bad }) + "\n");
  };
  try {
    await client.run({ kind: "run", job: newJobId(), command, nodes }, {
      plan: (plan) => {
        for (const node of plan.missing) note(node, "not connected", true);
        if (plan.nodes.length === 0 && plan.missing.length === 0) {
          err.write("kad run: no agent is connected to the head\n");
        }
      },
      output: ({ node, stream, lines }) => {
        if (json) {
          for (const line of lines) out.write(JSON.stringify({ event: "output", node, stream, line }) + "\n");
        } else if (group) {
          groups.add(node, lines);
        } else {
          (stream === "out" ? out : err).write(lines.map((line) => `${node}: ${line}\n`).join(""));
        }
      },
      exit: ({ node, code, error }) => {
        note(node, code === null ? error : `exit ${code}`, code !== 0);
      },
    });
  } catch (error) {
    if (interrupt.exitCode !== null) return interrupt.exitCode;
    throw error;
  } finally {
    client.close();
    interrupt.dispose();
  }
  if (group) {
    for (const g of groups.groups()) {
      const title = `${g.nodes} (${g.count})`;
      const rule = "-".repeat(Math.min(title.length, 78));
      out.write(`${rule}\n${title}\n${rule}\n${g.lines.join("\n")}\n`);
    }
  }
  if (!json && outcomes.size > 0) {
    err.write(
      `kad run: ${outcomes.size - failed} of ${outcomes.size} node(s) exited 0\n${outcomeTable(outcomes)}\n`,
    );
  }
  return outcomes.size > 0 && failed === 0 ? 0 : 1;
}
