/**
 * A child process of the data path (tar, dd, a shell command): its own process group so that a
 * kill reaches a whole pipeline, a bounded stderr tail, and a typed error quoting the tool's
 * own words when it fails.
 *
 * @module
 */

import { TOKEN_ENV } from "../security/join_token.ts";
import { type ErrorCode, KadError, SubprocessError } from "../errors.ts";
import { StderrTail } from "./stderr_tail.ts";
import { withDeadline } from "../time/deadline.ts";

/** How to start a child. */
export interface ChildSpec {
  /** Program to run (looked up in PATH). */
  readonly program: string;
  /** Its arguments. */
  readonly args: readonly string[];
  /** A short label for messages, e.g. "tar -x". */
  readonly label: string;
  /** Code of the failure when it exits badly (LWF for sinks, LRF for sources). */
  readonly failureCode: ErrorCode;
  /** Standard input. */
  readonly stdin: "piped" | "null";
  /** Standard output. */
  readonly stdout: "piped" | "null" | "inherit";
  /** Working directory. */
  readonly cwd?: string;
  /** Variables added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Inherited variables the child must not see, besides {@link SECRET_ENV}, which no child sees. */
  readonly withheldEnv?: readonly string[];
  /** Exit codes that count as success (default [0]). */
  readonly okExitCodes?: readonly number[];
}

/** A running child process. */
export class ChildProcess {
  /** The spec it was started with. */
  readonly spec: ChildSpec;
  /** Its standard output, when piped. */
  readonly stdout: ReadableStream<Uint8Array> | null;
  /** The last bytes of its standard error. */
  readonly stderr: StderrTail = new StderrTail();
  readonly #child: Deno.ChildProcess;
  readonly #input: WritableStreamDefaultWriter<Uint8Array> | null;
  readonly #stderrDone: Promise<void>;
  #status: Deno.CommandStatus | null = null;
  readonly #statusPromise: Promise<Deno.CommandStatus>;

  private constructor(spec: ChildSpec, child: Deno.ChildProcess) {
    this.spec = spec;
    this.#child = child;
    this.stdout = spec.stdout === "piped" ? child.stdout : null;
    this.#input = spec.stdin === "piped" ? child.stdin.getWriter() : null;
    this.#stderrDone = this.#drainStderr();
    this.#statusPromise = child.status.then((s) => this.#status = s);
  }

  /** Starts a child; a missing program is a {@link KadError} with the spec's failure code. */
  static spawn(spec: ChildSpec): ChildProcess {
    try {
      const child = new Deno.Command(spec.program, {
        args: [...spec.args],
        cwd: spec.cwd,
        ...childEnvironment(spec),
        stdin: spec.stdin,
        stdout: spec.stdout,
        stderr: "piped",
        detached: true,
      }).spawn();
      return new ChildProcess(spec, child);
    } catch (error) {
      const reason = error instanceof Deno.errors.NotFound ? "program not found" : String(error);
      throw new KadError(spec.failureCode, `Could not start ${spec.label}: ${reason}`, { cause: error });
    }
  }

  /** The process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.#status !== null;
  }

  /** Writes to standard input; the bytes may be reused when the promise settles. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.#input === null) return Promise.reject(new Error(`${this.spec.label} has no piped input`));
    return this.#input.write(bytes);
  }

  /** Closes standard input (end of stream for the child). */
  async closeInput(): Promise<void> {
    try {
      await this.#input?.close();
    } catch {
      // the child already closed its end; its exit status tells why
    }
  }

  /** Waits for the exit; throws a {@link SubprocessError} unless the exit code is accepted. */
  async wait(): Promise<void> {
    const status = await this.#statusPromise;
    await this.#stderrDone;
    const ok = this.spec.okExitCodes ?? [0];
    if (status.signal === null && ok.includes(status.code)) return;
    const how = status.signal !== null
      ? `was killed by ${status.signal}`
      : `exited with status ${status.code}`;
    const said = this.stderr.reason();
    throw new SubprocessError(
      this.spec.failureCode,
      `${this.spec.label} ${how}${said ? `: ${said}` : ""}`,
      status.signal !== null ? null : status.code,
      this.stderr.text(),
    );
  }

  /** Sends a signal to the child's whole process group; no-op once it exited. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#status !== null) return;
    try {
      Deno.kill(-this.#child.pid, signal);
    } catch {
      // it exited meanwhile
    }
  }

  /** Kills the group and waits for the exit, ignoring its status. */
  async stop(): Promise<void> {
    this.kill("SIGTERM");
    const exited = await withDeadline(this.#statusPromise.then(() => true), 2000, () => false);
    if (!exited) this.kill("SIGKILL");
    await this.#statusPromise;
    await this.closeInput();
    await this.#stderrDone;
  }

  async #drainStderr(): Promise<void> {
    try {
      for await (const chunk of this.#child.stderr) this.stderr.push(chunk);
    } catch {
      // stderr closed with the process
    }
  }
}

/** Variables holding kad's secrets: no child process (tar, dd, a command, a hook) ever sees them. */
export const SECRET_ENV: readonly string[] = [TOKEN_ENV];

/** The environment options of Deno.Command for `spec`: inherited, minus every secret, plus `spec.env`. */
export function childEnvironment(
  spec: Pick<ChildSpec, "env" | "withheldEnv">,
): { env: Record<string, string>; clearEnv: true } {
  const env = Deno.env.toObject();
  for (const name of [...SECRET_ENV, ...spec.withheldEnv ?? []]) delete env[name];
  return { env: { ...env, ...spec.env }, clearEnv: true };
}
