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
import { commandHelp, COMMANDS, mainHelp, parseFlags, UsageError } from "./flags.ts";
import { joinCommand } from "./join_command.ts";
import { netbootCommand } from "./netboot_command.ts";
import { setupLogging } from "./logging.ts";
import { serveCommand } from "./serve_command.ts";
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
    if (spec === undefined) throw new UsageError(`Unknown command "${name}"`, "");
    const { flags, positionals } = parseFlags(spec, rest);
    if (flags.help === true) {
      stdoutOut().write(commandHelp(spec));
      return 0;
    }
    await setupLogging(flags.verbose === true);
    switch (spec.name) {
      case "serve":
        return await serveCommand(flags, positionals);
      case "join":
        return await joinCommand(flags, positionals);
      case "bench":
        return await benchCommand(flags, positionals);
      case "netboot":
        return await netbootCommand(flags, positionals);
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

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
