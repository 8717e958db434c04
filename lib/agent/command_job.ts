/**
 * A command an agent runs for its head (`kad run`, or the `kad join` of a deployment): its own
 * process group, kad's secrets withheld from its environment, its output sent back line by line in
 * batches (with backpressure: a head that reads slowly slows the command's output, not memory),
 * then its exit.
 *
 * @module
 */

import { childEnvironment } from "../process/child_process.ts";
import { MAX_LINE, MAX_OUTPUT_LINES } from "../protocol/agent_messages.ts";
import { lines } from "../text/lines.ts";

/**
 * Encoded bytes of output lines after which a batch goes (a control frame holds 64 KiB): a
 * character takes at most 6 bytes in JSON (`\u0001`), so a batch stays under 40 KiB plus a line.
 */
const BATCH_BYTES = 40 * 1024;
/** How long a line may wait for others to go with it. */
const BATCH_MS = 50;

/** Where a job's output and exit go. */
export interface CommandReport {
  /** Lines the command wrote on `stream`. */
  output(stream: "out" | "err", lines: string[]): Promise<void>;
}

/** How a command ended: its exit code (null: killed or never started) and why, when not 0. */
export interface CommandEnd {
  /** Exit code; null when killed by a signal or not started. */
  code: number | null;
  /** "" on exit 0; the signal, or why it could not start. */
  error: string;
}

/** A running command. */
export class CommandJob {
  readonly #child: Deno.ChildProcess | null;
  /** Resolves once the command ended and all its output was reported. */
  readonly ended: Promise<CommandEnd>;

  private constructor(child: Deno.ChildProcess | null, ended: Promise<CommandEnd>) {
    this.#child = child;
    this.ended = ended;
  }

  /** Starts `argv`, writing `input` (or nothing) to its standard input. */
  static start(argv: readonly string[], input: string | null, report: CommandReport): CommandJob {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(argv[0], {
        args: argv.slice(1),
        ...childEnvironment({}),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
        detached: true,
      }).spawn();
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound ? "program not found" : String(error);
      return new CommandJob(null, Promise.resolve({ code: null, error: `cannot run ${argv[0]}: ${reason}` }));
    }
    const feed = (async () => {
      const writer = child.stdin.getWriter();
      if (input !== null) await writer.write(new TextEncoder().encode(input)).catch(() => {});
      await writer.close().catch(() => {});
    })();
    const ended = (async () => {
      await Promise.all([
        feed,
        relayLines(child.stdout, (l) => report.output("out", l)),
        relayLines(child.stderr, (l) => report.output("err", l)),
      ]);
      const status = await child.status;
      return status.signal !== null
        ? { code: null, error: `killed by ${status.signal}` }
        : { code: status.code, error: status.code === 0 ? "" : `exit code ${status.code}` };
    })();
    return new CommandJob(child, ended);
  }

  /** Stops the command's whole process group. */
  stop(): void {
    if (this.#child === null) return;
    try {
      Deno.kill(-this.#child.pid, "SIGTERM");
    } catch {
      // ended
    }
  }
}

/** Sends the lines of `stream` in batches: every {@link BATCH_MS}, or sooner when a batch fills. */
async function relayLines(
  stream: ReadableStream<Uint8Array>,
  send: (lines: string[]) => Promise<void>,
): Promise<void> {
  let batch: string[] = [];
  let bytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending = Promise.resolve();
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batch.length === 0) return sending;
    const out = batch;
    batch = [];
    bytes = 0;
    sending = sending.then(() => send(out)).catch(() => {});
    return sending;
  };
  for await (const line of lines(stream, MAX_LINE)) {
    batch.push(line);
    bytes += line.length * 6 + 8;
    if (bytes >= BATCH_BYTES || batch.length >= MAX_OUTPUT_LINES) await flush();
    else timer ??= setTimeout(flush, BATCH_MS);
  }
  await flush();
}
