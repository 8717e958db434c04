/**
 * What the benchmark scripts share: finding kad (the bundle the binary embeds, else the source),
 * tools on the PATH, and waiting for a listener without connecting to it.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateToken } from "../lib/security/join_token.ts";
import { kadCommand } from "../cli/self_exec.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

// every kad a benchmark starts inherits one join token (an --insecure run ignores it)
if (!Deno.env.get("KAD_TOKEN")) Deno.env.set("KAD_TOKEN", generateToken());

/** The argv that runs kad: dist/kad.js when bundled (what `deno compile` embeds), else cli/main.ts. */
export function kadArgv(): string[] {
  const bundle = join(ROOT, "dist/kad.js");
  return kadCommand(exists(bundle) ? bundle : join(ROOT, "cli/main.ts"));
}

/** True when `path` exists (and, with `kind`, is of that kind). */
export function exists(path: string, kind?: "file" | "dir"): boolean {
  try {
    const info = Deno.statSync(path);
    return kind === undefined || (kind === "file" ? info.isFile : info.isDirectory);
  } catch {
    return false;
  }
}

export { hasTool as have } from "../lib/process/host_tool.ts";

/**
 * Waits until something listens on TCP (or UDP with `proto` "u") `port`, in a network namespace when
 * given, without connecting: socat without fork would spend its one accept on the probe.
 */
export async function waitListening(port: number, namespace?: string, proto: "t" | "u" = "t"): Promise<void> {
  const ss = ["ss", `-Hl${proto}n`, `sport = :${port}`];
  const argv = namespace ? ["ip", "netns", "exec", namespace, ...ss] : ss;
  for (let i = 0; i < 400; i++) {
    const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
    if (new TextDecoder().decode(out.stdout).trim() !== "") return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on port ${port}${namespace ? ` in ${namespace}` : ""}`);
}

/** What GNU time measured of one process (and the children it waited for). */
export interface ProcessUsage {
  /** Wall-clock seconds. */
  seconds: number;
  /** User plus system CPU seconds. */
  cpuSeconds: number;
  /** Peak resident set of the largest process, in KiB. */
  rssKiB: number;
}

/** GNU time's format; {@link parseUsage} reads what it prints. */
export const TIME_FORMAT = "TIME %e %U %S %M";

/** The argv prefix that runs a command under GNU time, writing its usage to `file`. */
export function timeArgv(file: string): string[] {
  return ["/usr/bin/time", "-o", file, "-f", TIME_FORMAT];
}

/** Reads GNU time's {@link TIME_FORMAT} line out of `text`. */
export function parseUsage(text: string): ProcessUsage {
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(text);
  if (!m) throw new Error(`no timing in: ${text}`);
  return { seconds: Number(m[1]), cpuSeconds: Number(m[2]) + Number(m[3]), rssKiB: Number(m[4]) };
}

/** Starts `argv` with its standard output and error piped (read them, or the process may block). */
export function spawnPiped(argv: string[]): Deno.ChildProcess {
  return new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped", stderr: "piped" }).spawn();
}

/** The machine's 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}
