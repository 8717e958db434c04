/**
 * `kad head`: the daemon agents stay connected to.
 *
 * @module
 */

import { Head, type HeadEvent } from "../lib/agent/head.ts";
import { type FlagSpec, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, HEAD_FLAGS as F } from "./commands.ts";
import { tokenChoice } from "./join_token_option.ts";
import { interruptSignal } from "./signals.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** Runs `kad head` until interrupted; returns the exit code. */
export async function headCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "head");
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`, "head");
  const { token } = await tokenChoice(flags, "head", "agent");
  const json = get(COMMON.json)!;
  const err = stderrOut();
  const out = stdoutOut();
  const interrupt = interruptSignal();
  const head = Head.start({
    listen: { host: get(F.listen)!, port: get(F.port)! },
    token: token!,
    connectTimeoutMs: get(COMMON.connectTimeout)!,
    onEvent: (event) => {
      if (json) out.write(JSON.stringify({ event: event.type, ...fieldsOf(event) }) + "\n");
      else err.write(describe(event) + "\n");
    },
  });
  interrupt.signal.addEventListener("abort", () => head.close());
  try {
    await head.serve();
    return interrupt.exitCode ?? 0;
  } finally {
    head.close();
    interrupt.dispose();
  }
}

function fieldsOf(event: HeadEvent): Record<string, unknown> {
  const { type: _, ...fields } = event;
  return fields;
}

function describe(event: HeadEvent): string {
  switch (event.type) {
    case "listening":
      return `kad head: listening on ${event.host}:${event.port}; on every node run:\n` +
        `  kad agent --server ${Deno.hostname()}:${event.port} --token-file FILE`;
    case "agent-joined":
      return `kad head: agent ${event.name} connected from ${event.host} (${event.agents} connected)`;
    case "agent-left":
      return `kad head: agent ${event.name} left: ${event.reason} (${event.agents} connected)`;
    case "job":
      return `kad head: job ${event.job}: ${event.kind} handed to ${event.nodes} agent(s) in ${event.ms} ms` +
        (event.missing > 0 ? `, ${event.missing} asked for are not connected` : "");
    case "refused":
      return `kad head: refused ${event.peer}: ${event.reason}`;
  }
}
