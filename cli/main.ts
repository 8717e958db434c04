/**
 * The `kad` command: parses the command line, runs a command, maps errors to one line and an
 * exit code (0 ok, 1 failure, 2 usage).
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { ConfigError, describeError, KadError } from "../lib/errors.ts";
import { benchCommand } from "./bench_command.ts";
import { demoCommand } from "./demo_command.ts";
import { commandHelp, parseFlags, read, UsageError } from "./flags.ts";
import { COMMANDS, COMMON, mainHelp } from "./commands.ts";
import { joinCommand } from "./join_command.ts";
import { netbootCommand } from "./netboot_command.ts";
import { setupLogging } from "./logging.ts";
import { serveCommand } from "./serve_command.ts";
import { simulateCommand } from "./simulate_command.ts";
import { agentCommand } from "./agent_command.ts";
import { gatherCommand } from "./gather_command.ts";
import { headCommand } from "./head_command.ts";
import { runCommand } from "./run_command.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** kad's version. */
export const VERSION: string = denoJson.version;

/** Runs kad with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const err = stderrOut();
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    stdoutOut().write(mainHelp(VERSION));
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "version") {
    stdoutOut().write(`kad ${VERSION}\n`);
    return 0;
  }
  const spec = COMMANDS.find((c) => c.name === name);
  try {
    if (spec === undefined) throw new UsageError(unknownCommand(name), "");
    const { flags, positionals } = parseFlags(spec, rest);
    if (read(flags, COMMON.help, spec.name)) {
      stdoutOut().write(commandHelp(spec));
      return 0;
    }
    await setupLogging(read(flags, COMMON.verbose, spec.name) ?? false);
    switch (spec.name) {
      case "serve":
        return await serveCommand(flags, positionals);
      case "join":
        return await joinCommand(flags, positionals);
      case "bench":
        return await benchCommand(flags, positionals);
      case "netboot":
        return await netbootCommand(flags, positionals);
      case "simulate":
        return await simulateCommand(flags, positionals);
      case "head":
        return await headCommand(flags, positionals);
      case "agent":
        return await agentCommand(flags, positionals);
      case "run":
        return await runCommand(flags, positionals);
      case "gather":
        return await gatherCommand(flags, positionals);
      default:
        return await demoCommand(flags, positionals);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const usage = COMMANDS.find((c) => c.name === error.command)?.usage ?? "kad COMMAND [options]";
      err.write(`kad: ${error.message}\nUsage: ${usage}\n`);
      return 2;
    }
    if (error instanceof ConfigError) {
      err.write(`kad: ${error.message}\n`);
      return 2;
    }
    if (error instanceof KadError) {
      err.write(`kad: ${error.code}: ${describeError(error)}\n`);
      return 1;
    }
    err.write(`kad: unexpected error: ${describeError(error)}\n`);
    if (Deno.env.get("KAD_DEBUG")) console.error(error);
    return 1;
  }
}

/** "Unknown command", the closest command when one is close, and the list of commands. */
function unknownCommand(name: string): string {
  const names = COMMANDS.map((c) => c.name);
  const closest = names
    .map((n) => ({ n, d: editDistance(name.toLowerCase(), n) }))
    .sort((a, b) => a.d - b.d)[0];
  const hint = closest.d <= Math.max(1, Math.floor(closest.n.length / 3))
    ? ` Did you mean "${closest.n}"?`
    : "";
  return `Unknown command "${name}".${hint} Commands: ${names.join(", ")}`;
}

/** Levenshtein distance between two short strings. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
