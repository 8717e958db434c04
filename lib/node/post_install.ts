/**
 * A node's post-install step (`kad join --post-install CMD`): a shell command run once the copy is
 * verified and in place, with `KAD_*` variables saying where the node sits. Lines it prints as
 * `kad-phase: NAME [DETAIL]` are phases for the server's report; its exit status decides whether
 * the node ends ok. Standard error is merged into its output, which the node echoes. The join token
 * (`KAD_TOKEN`) is not passed on.
 *
 * @module
 */

import { describeError, KadError } from "../errors.ts";
import { ChildProcess } from "../process/child_process.ts";
import type { WireError } from "../protocol/messages.ts";
import { clipDetail, PHASE_NAME, type PhaseNote } from "../report/phase.ts";
import { lines } from "../text/lines.ts";

/** How long a post-install step may run, by default (`--post-install-timeout`). */
export const DEFAULT_POST_INSTALL_TIMEOUT_MS = 30 * 60_000;

/** What to run. */
export interface PostInstallSpec {
  /** A `sh -c` command line. */
  command: string;
  /** How long it may run before it is killed and the node fails (`POST`). */
  timeoutMs: number;
}

/** Where the step's results go. */
export interface PostInstallHooks {
  /** Variables added to its environment (KAD_NODE, KAD_POSITION, …). */
  env: Record<string, string>;
  /** Stops it (operator interrupt, the server's ABORT). */
  signal?: AbortSignal;
  /** A `kad-phase:` line it printed. */
  onPhase: (note: PhaseNote) => void;
  /** Every line it printed (phase lines included). */
  onOutput: (line: string) => void;
}

/** A line announcing a phase: `kad-phase: NAME [DETAIL]`. */
const PHASE_LINE = /^kad-phase:\s*(\S+)\s*(.*)$/;
/** Longest output line passed on whole; longer ones are split there. */
const MAX_LINE = 4096;
/** Output lines remembered to say why the step failed. */
const REASON_LINES = 3;

/** Reads a `kad-phase: NAME [DETAIL]` line; null for any other line or a bad name. */
export function parsePhaseLine(line: string): PhaseNote | null {
  const match = PHASE_LINE.exec(line.trim());
  if (match === null || !PHASE_NAME.test(match[1])) return null;
  return { phase: match[1], detail: clipDetail(match[2]) };
}

/** Runs the step; returns null when it succeeded, else why it failed (code `POST`, or `ABORT`). */
export async function runPostInstall(
  spec: PostInstallSpec,
  hooks: PostInstallHooks,
): Promise<WireError | null> {
  let child: ChildProcess;
  try {
    child = ChildProcess.spawn({
      program: "sh",
      args: ["-c", `exec 2>&1\n${spec.command}`],
      label: "post-install",
      failureCode: "POST",
      stdin: "null",
      stdout: "piped",
      env: hooks.env,
      // the step has no business with the join token
    });
  } catch (error) {
    return { code: "POST", message: describeError(error) };
  }
  let stoppedBy: WireError | null = null;
  const stop = (reason: WireError) => {
    stoppedBy ??= reason;
    void child.stop();
  };
  const timer = setTimeout(
    () => stop({ code: "POST", message: `post-install did not finish within ${spec.timeoutMs / 1000} s` }),
    spec.timeoutMs,
  );
  const onAbort = () => stop({ code: "ABORT", message: "post-install interrupted" });
  if (hooks.signal?.aborted) onAbort();
  hooks.signal?.addEventListener("abort", onAbort, { once: true });
  const recent: string[] = [];
  try {
    for await (const line of lines(child.stdout!, MAX_LINE)) {
      hooks.onOutput(line);
      const note = parsePhaseLine(line);
      if (note !== null) hooks.onPhase(note);
      else if (line.trim() !== "") {
        recent.push(line.trim());
        if (recent.length > REASON_LINES) recent.shift();
      }
    }
    await child.wait();
    return stoppedBy;
  } catch (error) {
    if (stoppedBy !== null) return stoppedBy;
    const said = recent.at(-1);
    const code = error instanceof KadError ? error.code : "POST";
    return { code, message: `${describeError(error)}${said ? `: ${said}` : ""}` };
  } finally {
    clearTimeout(timer);
    hooks.signal?.removeEventListener("abort", onAbort);
  }
}
