/**
 * Where a command's join token comes from: `--token`, `--token-file`, `KAD_TOKEN`, generated
 * (serve only), or none with `--insecure`.
 *
 * @module
 */

import { ConfigError } from "../lib/errors.ts";
import { checkToken, generateToken, TOKEN_ENV } from "../lib/security/join_token.ts";
import { given, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON } from "./commands.ts";

export { TOKEN_ENV };

/** The token a command runs with. */
export interface TokenChoice {
  /** The token; null with --insecure. */
  token: string | null;
  /** True when kad serve made it up (and must print it). */
  generated: boolean;
}

/** Resolves the token of `command`; only a server may generate one, and agents' commands need one. */
export async function tokenChoice(
  flags: ParsedFlags,
  command: string,
  role: "server" | "node" | "agent",
): Promise<TokenChoice> {
  const token = read(flags, COMMON.token, command);
  const file = read(flags, COMMON.tokenFile, command);
  if (token !== undefined && file !== undefined) {
    throw new UsageError("Give the join token once: --token or --token-file", command);
  }
  if (given(flags, COMMON.insecure)) {
    if (token !== undefined || file !== undefined) {
      throw new UsageError("--insecure runs without a join token: drop --token/--token-file", command);
    }
    return { token: null, generated: false };
  }
  if (token !== undefined) return { token: checkToken(token, "--token"), generated: false };
  if (file !== undefined) return { token: checkToken(await readTokenFile(file), file), generated: false };
  const env = Deno.env.get(TOKEN_ENV);
  if (env !== undefined && env !== "") return { token: checkToken(env, TOKEN_ENV), generated: false };
  if (role === "server") return { token: generateToken(), generated: true };
  if (role === "agent") {
    throw new UsageError(
      `No join token: give --token-file FILE, --token TOKEN or ${TOKEN_ENV}; kad head, its agents and ` +
        "its clients share one (agents run commands as root: they never run without it)",
      command,
    );
  }
  throw new UsageError(
    `No join token: give --token-file FILE, --token TOKEN or ${TOKEN_ENV} (kad serve prints it), ` +
      "or --insecure if the server runs without one",
    command,
  );
}

/**
 * Reads a token file.
 * @throws {ConfigError} when it cannot be read.
 */
export async function readTokenFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(`Cannot read the token file "${path}": ${reason}`);
  }
}

/** The warning --insecure prints, loudly, on every run. */
export const INSECURE_WARNING = "kad: WARNING: --insecure: no authentication. Anyone who can reach this " +
  "machine's kad ports can join and receive the stream, or feed nodes data of their own.";
