/**
 * What `kad run` and `kad gather` share: the connection to the head (`--head`, the token) and the
 * agents asked for (`--nodes`), and the table of how each node ended.
 *
 * @module
 */

import { DEFAULT_HEAD_PORT } from "../lib/agent/head.ts";
import { HeadClient } from "../lib/agent/head_client.ts";
import { expandHosts, foldHosts } from "../lib/cluster/host_list.ts";
import { type FlagSpec, hostPort, type ParsedFlags, read } from "./flags.ts";
import { COMMON, HEAD_CLIENT_FLAGS as F } from "./commands.ts";
import { tokenChoice } from "./join_token_option.ts";

/** Connects to `--head` as `command`, proving the token. */
export async function connectHead(flags: ParsedFlags, command: string): Promise<HeadClient> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, command);
  const { token } = await tokenChoice(flags, command, "agent");
  return await HeadClient.connect(
    hostPort(get(F.head)!, DEFAULT_HEAD_PORT, command),
    token!,
    `${command}@${Deno.hostname()}`,
    get(COMMON.connectTimeout)!,
  );
}

/** `--nodes`: the agents asked for, or null for every connected agent. */
export function nodeSelection(flags: ParsedFlags, command: string): string[] | null {
  const text = read(flags, F.nodes, command);
  return text === undefined ? null : expandHosts(text);
}

/** Rows `OUTCOME  NODES (N)`, nodes folded, one row per outcome, the most common first. */
export function outcomeTable(outcomes: Map<string, string>): string {
  const byOutcome = new Map<string, string[]>();
  for (const [node, outcome] of outcomes) byOutcome.set(outcome, [...byOutcome.get(outcome) ?? [], node]);
  const rows = [...byOutcome].sort((a, b) => b[1].length - a[1].length);
  const width = Math.max(...rows.map(([o]) => o.length), 7);
  return rows.map(([outcome, nodes]) => `  ${outcome.padEnd(width)}  ${foldHosts(nodes)} (${nodes.length})`)
    .join("\n");
}
