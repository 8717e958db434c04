/**
 * `kad gather PATH | --cmd COMMAND --to DIR [--merge CMD]`: collect from every agent, verified per
 * node.
 *
 * @module
 */

import { ProtocolError } from "../lib/errors.ts";
import { GatherInbox } from "../lib/gather/gather_inbox.ts";
import { gatherKeyContext } from "../lib/gather/gather_link.ts";
import { type GatherResult, runGatherRoot } from "../lib/gather/gather_root.ts";
import { type GatherSource, newJobId } from "../lib/protocol/agent_messages.ts";
import { listenOn } from "../lib/net/listen.ts";
import { openKey } from "../lib/security/sealed_key.ts";
import { type FlagSpec, hostPort, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, GATHER_FLAGS as F } from "./commands.ts";
import { connectHead, nodeSelection, outcomeTable } from "./head_client_option.ts";
import { formatBytes } from "./progress.ts";
import { interruptSignal } from "./signals.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** Runs `kad gather`; returns the exit code. */
export async function gatherCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "gather");
  const cmd = get(F.cmd);
  if (positionals.length > 1) throw new UsageError(`Too many arguments: ${positionals.join(" ")}`, "gather");
  if ((positionals.length === 1) === (cmd !== undefined)) {
    throw new UsageError("Give what to gather: a PATH on the nodes, or --cmd COMMAND", "gather");
  }
  const source: GatherSource = cmd !== undefined
    ? { type: "cmd", value: cmd }
    : { type: "path", value: positionals[0] };
  const toDir = get(F.to);
  if (toDir === undefined) throw new UsageError("Missing --to DIR (where the copies go)", "gather");
  const merge = get(F.merge) ?? null;
  if (merge !== null && merge.trim() === "") {
    throw new UsageError('--merge takes a command, such as "sort -m"', "gather");
  }
  const nodes = nodeSelection(flags, "gather");
  const fanout = get(F.fanout)!;
  const json = get(COMMON.json)!;
  const timeoutMs = get(COMMON.connectTimeout)!;
  const inbox = new GatherInbox(listenOn(hostPort(get(F.listen)!, 0, "gather"), "gather links"), timeoutMs);
  const client = await connectHead(flags, "gather").catch((error) => {
    inbox.close();
    throw error;
  });
  const interrupt = interruptSignal();
  interrupt.signal.addEventListener("abort", () => client.close());
  const job = newJobId();
  const exits = new Map<string, string>();
  let root: Promise<GatherResult> | null = null;
  try {
    await client.run(
      { kind: "gather", job, port: inbox.port, source, merge, fanout, nodes },
      {
        plan: (plan) => {
          root = runGatherRoot({
            job,
            key: openKey(client.sealKey, plan.key, gatherKeyContext(job)),
            nodes: [...plan.nodes, ...plan.missing],
            children: plan.children,
            merge,
            toDir,
            inbox,
          });
          for (const node of plan.missing) exits.set(node, "not connected to the head");
          if (plan.nodes.length === 0 && plan.missing.length === 0) {
            stderrOut().write("kad gather: no agent is connected to the head\n");
          }
        },
        exit: ({ node, code, error }) => {
          if (code === 0) return;
          exits.set(node, error);
          inbox.abandon(job, node, error); // a node that ended without linking is not waited for
        },
      },
    );
  } catch (error) {
    if (interrupt.exitCode !== null) return interrupt.exitCode;
    throw error;
  } finally {
    client.close();
    interrupt.dispose();
  }
  if (root === null) throw new ProtocolError("The head ended the gather without a plan");
  const result: GatherResult = await root;
  inbox.close();
  const outcomes = new Map<string, string>();
  for (const v of result.verdicts) {
    // a node's own word on why it could not send is better than "never reached the head"
    const why = v.status === "ok" ? "ok" : exits.get(v.node) || v.error;
    outcomes.set(v.node, v.status === "ok" ? "ok" : `failed: ${why}`);
    if (json) {
      stdoutOut().write(
        JSON.stringify({ event: "verdict", ...v, error: v.status === "ok" ? "" : why }) + "\n",
      );
    }
  }
  const ok = result.verdicts.filter((v) => v.status === "ok");
  const bytes = ok.reduce((sum, v) => sum + v.bytes, 0);
  if (!json) {
    stderrOut().write(
      `kad gather: ${ok.length} of ${result.verdicts.length} node(s) verified (${formatBytes(bytes)})` +
        (result.written.length > 0 ? ` → ${result.written.length === 1 ? result.written[0] : toDir}` : "") +
        `\n${result.verdicts.length > 0 ? outcomeTable(outcomes) + "\n" : ""}`,
    );
  }
  return result.verdicts.length > 0 && ok.length === result.verdicts.length ? 0 : 1;
}
