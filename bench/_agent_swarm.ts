/**
 * Many agents in one process (for bench/run_start.ts): each a real agent of lib/agent/agent.ts
 * with its own connection to the head, its commands real processes. One deno per agent would cost
 * ~50 MiB and a second of start-up each; the protocol and the commands are the same.
 *
 * Usage: deno run -A bench/_agent_swarm.ts HEAD_HOST:PORT COUNT PREFIX  (token in KAD_TOKEN)
 */

import { runAgent } from "../lib/agent/agent.ts";
import { selfCommand } from "../cli/self_exec.ts";

const [head, count, prefix] = Deno.args;
const [host, port] = head.split(":");
const stop = new AbortController();
Deno.addSignalListener("SIGTERM", () => stop.abort());
await Promise.all(Array.from({ length: Number(count) }, (_, i) =>
  runAgent({
    head: { host, port: Number(port) },
    token: Deno.env.get("KAD_TOKEN")!,
    name: `${prefix}${String(i + 1).padStart(3, "0")}`,
    listen: { host: "127.0.0.1", port: 0 },
    connectTimeoutMs: 10_000,
    kad: selfCommand(),
    signal: stop.signal,
  })));
