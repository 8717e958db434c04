/**
 * The host's own tools (apt-get, dpkg-deb, ip, tc, sfdisk, busybox…): finding one on the PATH, and
 * running one to completion with a one-line error that quotes what the tool said last.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { StderrTail } from "./stderr_tail.ts";

/** Where and how to run a tool. */
export interface ToolOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** True when `tool` is on the PATH (or is a path to an executable). Looks, runs nothing. */
export function hasTool(tool: string): boolean {
  return toolPath(tool) !== null;
}

/** Where `tool` is: the first executable of that name on the PATH (or `tool` itself, a path), else null. */
export function toolPath(tool: string): string | null {
  if (tool.includes("/")) return isExecutable(tool) ? tool : null;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "" && isExecutable(`${dir}/${tool}`)) return `${dir}/${tool}`;
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Runs `command` with `args` and returns its standard output; a missing tool or a failure is a
 * {@link ConfigError} "Cannot WHAT: …" quoting the tool's own reason (the tail of its stderr).
 */
export async function runTool(
  command: string,
  args: readonly string[],
  what: string,
  options: ToolOptions = {},
): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args: [...args],
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
    const tail = new StderrTail();
    tail.push(output.stderr);
    throw new ConfigError(
      `Cannot ${what}: ${tail.reason() || `${command} exited with status ${output.code}`}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}
