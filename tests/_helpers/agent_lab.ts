/**
 * A kad head and its agents as real processes (on loopback, or in netlab namespaces), and the
 * clients that talk to it (`kad run`, `kad gather`, `kad serve --launch agents`).
 */

import { KadProcess, type KadVariant } from "./kad_cli.ts";

/** A running `kad head --json` on a free port. */
export class HeadProcess implements AsyncDisposable {
  readonly process: KadProcess;
  readonly events: Record<string, unknown>[] = [];
  readonly port: Promise<number>;
  #waiters: { count: number; resolve: () => void }[] = [];

  /** Starts a head listening on `listenHost`. */
  constructor(variant: KadVariant, listenHost = "127.0.0.1", port = 0) {
    let resolvePort!: (port: number) => void;
    let rejectPort!: (error: Error) => void;
    this.port = new Promise((resolve, reject) => {
      resolvePort = resolve;
      rejectPort = reject;
    });
    this.process = new KadProcess(
      variant,
      ["head", "--listen", listenHost, "--port", String(port), "--json"],
      {
        lines: (line) => {
          const event = JSON.parse(line);
          this.events.push(event);
          if (event.event === "listening") resolvePort(event.port);
          this.#waiters = this.#waiters.filter((w) => {
            if (this.agents < w.count) return true;
            w.resolve();
            return false;
          });
        },
      },
    );
    this.process.child.status.then(() => rejectPort(new Error("kad head exited before listening")));
  }

  /** Agents connected now, as the head last said. */
  get agents(): number {
    const last = this.events.findLast((e) => e.event === "agent-joined" || e.event === "agent-left");
    return (last?.agents as number | undefined) ?? 0;
  }

  /** Resolves once `count` agents are connected; rejects after `deadlineMs`. */
  connected(count: number, deadlineMs = 60_000): Promise<void> {
    if (this.agents >= count) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      new Promise<void>((resolve) => this.#waiters.push({ count, resolve })),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`${count} agent(s) did not connect (${this.agents} did)`)),
          deadlineMs,
        )
      ),
    ]).finally(() => clearTimeout(timer));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.process.kill();
    await this.process.result();
  }
}

/** Agents started against a head, stopped together. */
export class Agents implements AsyncDisposable {
  readonly processes: KadProcess[];

  /** Starts one agent per variant (e.g. each in its namespace) against `head` (HOST:PORT). */
  constructor(variants: KadVariant[], head: string, extra: string[] = []) {
    this.processes = variants.map((v) => new KadProcess(v, ["agent", "--server", head, ...extra]));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const agent of this.processes) agent.kill();
    await Promise.all(this.processes.map((a) => a.result()));
  }
}

/** Runs a head client (`kad run …`, `kad gather …`) with --json; returns its exit, output and events. */
export async function headClient(variant: KadVariant, args: string[]) {
  const [command, ...rest] = args; // --json before a `--` that ends kad's options
  const result = await new KadProcess(variant, [command, "--json", ...rest]).result();
  const events = result.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
  return { ...result, events: events as Record<string, unknown>[] };
}
