/**
 * Running the build machine's tools (apt-get, dpkg-deb, ldd, tar, zstd) for the netboot kit, with
 * one-line errors.
 *
 * @module
 */

import { ConfigError } from "../lib/errors.ts";

/** Where and how to run a tool. */
export interface ToolOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/**
 * Runs `command` with `args` and returns its standard output; a missing tool or a failure is a
 * {@link ConfigError} "Cannot WHAT: …" with the last line the tool printed on stderr.
 */
export async function runTool(
  command: string,
  args: string[],
  what: string,
  options: ToolOptions = {},
): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      env: options.env,
      cwd: options.cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new ConfigError(
      `Cannot ${what}: ${command} is not available (${error instanceof Error ? error.message : error})`,
    );
  }
  if (!output.success) {
    const reason = new TextDecoder().decode(output.stderr).trim().split("\n").pop();
    throw new ConfigError(`Cannot ${what}: ${reason}`);
  }
  return new TextDecoder().decode(output.stdout);
}
