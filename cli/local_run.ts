/**
 * Starting kad server and node processes from this kad (the demo and the benchmarks), optionally
 * inside network namespaces, and reading the server's JSON events.
 *
 * @module
 */

import type { DeploymentReport } from "../lib/report/report.ts";
import { generateToken } from "../lib/security/join_token.ts";
import { TOKEN_ENV } from "./join_token_option.ts";
import { selfCommand } from "./self_exec.ts";
import { lines } from "../lib/text/lines.ts";

/** The join token every process of a local run shares, passed in the environment (argv shows in ps). */
const LOCAL_TOKEN = generateToken();

/** A server process started with --json. */
export interface ServerProcess {
  /** The process. */
  child: Deno.ChildProcess;
  /** The control port it listens on. */
  port: number;
  /** The report of the "done" event, or null if the server ended without one. */
  report: Promise<DeploymentReport | null>;
}

/**
 * Starts `kad serve ARGS --json` (argv prefixed by `wrap`, e.g. `ip netns exec NS`). A `quiet`
 * server's stderr (joins, progress) is discarded.
 */
export async function startServer(
  args: string[],
  wrap: string[] = [],
  quiet = false,
): Promise<ServerProcess> {
  const child = spawnKad([...args, "--json"], wrap, "piped", quiet ? "null" : "inherit");
  const events = jsonLines(child.stdout);
  // not for-await: leaving such a loop would close the generator
  for (;;) {
    const { value, done } = await events.next();
    if (done) throw new Error("The server exited before listening");
    if (value.event === "listening") {
      return { child, port: value.port as number, report: lastReport(events) };
    }
  }
}

/** Starts `kad join ARGS`; its stderr is captured so that only a failing node is shown. */
export function startNode(args: string[], wrap: string[] = []): Deno.ChildProcess {
  return spawnKad(["join", ...args], wrap, "null", "piped");
}

/** Waits for nodes; returns a message for each that exited non-zero. */
export async function nodeFailures(nodes: Deno.ChildProcess[], names: string[]): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(nodes.map(async (node, i) => {
    const { code, stderr } = await node.output();
    if (code !== 0) failures.push(`${names[i]} exited with ${code}:\n${new TextDecoder().decode(stderr)}`);
  }));
  return failures;
}

/** Sends SIGTERM, ignoring processes that already exited. */
export function terminate(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGTERM");
  } catch {
    // already exited
  }
}

function spawnKad(
  args: string[],
  wrap: string[],
  stdout: "piped" | "null",
  stderr: "piped" | "inherit" | "null",
): Deno.ChildProcess {
  const argv = [...wrap, ...selfCommand(), ...args];
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout,
    stderr,
    env: { [TOKEN_ENV]: LOCAL_TOKEN },
  }).spawn();
}

async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  for await (const line of lines(stream)) if (line.trim()) yield JSON.parse(line);
}

async function lastReport(events: AsyncGenerator<Record<string, unknown>>): Promise<DeploymentReport | null> {
  let report: DeploymentReport | null = null;
  for await (const event of events) {
    if (event.event === "done") report = event.report as DeploymentReport;
  }
  return report;
}
