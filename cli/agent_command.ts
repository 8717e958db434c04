/**
 * `kad agent --server HEAD`: stays connected to the head and takes its jobs.
 *
 * @module
 */

import { type AgentEvent, runAgent } from "../lib/agent/agent.ts";
import { describeError } from "../lib/errors.ts";
import { DEFAULT_HEAD_PORT } from "../lib/agent/head.ts";
import { type FlagSpec, hostPort, type ParsedFlags, read, UsageError } from "./flags.ts";
import { AGENT_FLAGS as F, COMMON } from "./commands.ts";
import { checkNodeName } from "./join_command.ts";
import { tokenChoice } from "./join_token_option.ts";
import { selfCommand } from "./self_exec.ts";
import { interruptSignal } from "./signals.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** How often an agent waiting for its head says so. */
const WAITING_NOTICE_MS = 10_000;

/** Runs `kad agent` until interrupted; returns the exit code. */
export async function agentCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "agent");
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`, "agent");
  const server = get(F.server);
  if (server === undefined) {
    throw new UsageError("Missing --server HEAD[:PORT] (where kad head runs)", "agent");
  }
  const name = get(F.name);
  if (name !== undefined) checkNodeName(name, "agent");
  const { token } = await tokenChoice(flags, "agent", "agent");
  const json = get(COMMON.json)!;
  const err = stderrOut();
  const out = stdoutOut();
  const interrupt = interruptSignal();
  // an agent outlives its jobs: a job's stray failure is said, never the end of the agent
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    err.write(`kad agent: a job failed: ${describeError(event.reason)}\n`);
  });
  let lastWaitNotice = -Infinity;
  try {
    await runAgent({
      head: hostPort(server, DEFAULT_HEAD_PORT, "agent"),
      token: token!,
      name: name ?? Deno.hostname(),
      listen: hostPort(get(F.listen)!, 0, "agent"),
      connectTimeoutMs: get(COMMON.connectTimeout)!,
      kad: selfCommand(),
      signal: interrupt.signal,
      onEvent: (event) => {
        if (json) {
          const { type, ...fields } = event;
          out.write(JSON.stringify({ event: type, ...fields }) + "\n");
          return;
        }
        if (event.type === "waiting") {
          if (performance.now() - lastWaitNotice < WAITING_NOTICE_MS) return;
          lastWaitNotice = performance.now();
        }
        err.write(describe(event) + "\n");
      },
    });
    return interrupt.exitCode ?? 0;
  } finally {
    interrupt.dispose();
  }
}

function describe(event: AgentEvent): string {
  switch (event.type) {
    case "waiting":
      return `kad agent: waiting for kad head at ${event.head}… (${event.reason})`;
    case "connected":
      return `kad agent: connected to kad head at ${event.head} as ${event.name}`;
    case "disconnected":
      return `kad agent: lost the head (${event.reason}); reconnecting`;
    case "job":
      return `kad agent: job ${event.job}: ${event.kind} ${event.what}`;
    case "job-ended":
      return `kad agent: job ${event.job} ended${event.error ? `: ${event.error}` : ""}`;
  }
}
