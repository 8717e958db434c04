/**
 * A chaos run: a server fed a paced, deterministic stream on stdin (so faults land mid-stream),
 * nodes writing files, and a check that every node reported ok holds a byte-identical copy.
 */

import { join } from "node:path";
import { hashFile } from "../../lib/integrity/stream_hash.ts";
import type { DeploymentReport, NodeResult } from "../../lib/report/report.ts";
import { assertEquals } from "./assert.ts";
import { type KadProcess, KadServer, type KadVariant, startJoin } from "./kad_cli.ts";
import { type TempDir, tempDir } from "./temp_dir.ts";

const CHUNK = 1 << 20;

/** Options of a chaos run. */
export interface ChaosOptions {
  /** Node names, in chain order. */
  names: string[];
  /** Stream size in MiB. */
  mib?: number;
  /** Pause between MiB chunks, ms (the source's rate limit). */
  paceMs?: number;
  /** Extra `kad serve` arguments. */
  serveArgs?: string[];
  /** Extra `kad join` arguments for every node. */
  joinArgs?: string[];
  /** Directories other than the run's own to write some nodes' copies in, by node name. */
  outDirs?: Record<string, string>;
  /** Sink and extra arguments replacing `--out FILE` for some nodes, by node name. */
  sinks?: Record<string, string[]>;
}

/** Everything a chaos test asserts on. */
export interface ChaosOutcome {
  code: number;
  report: DeploymentReport;
  byName: Record<string, NodeResult>;
  exits: Record<string, { code: number; stderr: string }>;
  stderr: string;
}

/** A server, its nodes and the source bytes. */
export class ChaosRun implements AsyncDisposable {
  readonly nodes: Record<string, KadProcess> = {};
  #dir!: TempDir;
  #server!: KadServer;
  #source: Uint8Array = new Uint8Array(0);
  readonly #options: Required<ChaosOptions>;

  constructor(readonly variant: KadVariant, options: ChaosOptions) {
    this.#options = {
      mib: 24,
      paceMs: 40,
      serveArgs: [],
      joinArgs: [],
      outDirs: {},
      sinks: {},
      ...options,
    };
  }

  /** Starts the server and the nodes, and waits for the plan. */
  async start(): Promise<void> {
    const { names, mib, serveArgs, joinArgs } = this.#options;
    this.#dir = await tempDir("kad-chaos-");
    this.#source = pseudoRandom(mib * CHUNK);
    await Deno.writeFile(join(this.#dir.path, "source"), this.#source);
    this.#server = new KadServer(this.variant, [
      "-",
      "--clients",
      String(names.length),
      "--order",
      "name",
      "--timeout",
      "10",
      ...serveArgs,
    ], { stdin: true });
    const port = await this.#server.port;
    for (const name of names) {
      const sink = this.#options.sinks[name] ?? ["--out", this.outPath(name)];
      this.nodes[name] = startJoin(this.variant, port, name, sink, [
        "--timeout",
        "10",
        ...joinArgs,
      ]);
    }
    await this.#server.joined(names.length);
    while (!this.#server.events.some((e) => e.event === "planned")) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Where node `name` writes its copy. */
  outPath(name: string): string {
    return join(this.#options.outDirs[name] ?? this.#dir.path, `${name}.out`);
  }

  /** The server's JSON events so far. */
  get events(): Record<string, unknown>[] {
    return this.#server.events;
  }

  /** The server process. */
  get server(): KadServer {
    return this.#server;
  }

  /** Feeds the stream at the paced rate, calling `at(fraction)` as each chunk goes out. */
  async feed(at: (fraction: number) => void | Promise<void> = () => {}): Promise<void> {
    const chunks = this.#source.length / CHUNK;
    for (let i = 0; i < chunks; i++) {
      await at(i / chunks);
      const ok = await this.#server.process.write(this.#source.subarray(i * CHUNK, (i + 1) * CHUNK))
        .then(() => true, () => false);
      if (!ok) return;
      await new Promise((r) => setTimeout(r, this.#options.paceMs));
    }
    await this.#server.process.closeStdin();
  }

  /** Waits for everyone and checks that every node reported ok holds exactly the source. */
  async outcome(): Promise<ChaosOutcome> {
    const exits: ChaosOutcome["exits"] = {};
    await Promise.all(
      Object.entries(this.nodes).map(async ([name, node]) => {
        const r = await node.result();
        exits[name] = { code: r.code, stderr: r.stderr };
      }),
    );
    const { code, report, stderr } = await this.#server.result(60_000);
    if (report === null) throw new Error(`no report from the server:\n${stderr}`);
    const byName = Object.fromEntries(report.nodes.map((n) => [n.name, n]));
    const expected = await hashFile(join(this.#dir.path, "source"));
    for (const node of report.nodes) {
      if (node.status !== "ok") continue;
      assertEquals(exits[node.name].code, 0, exits[node.name].stderr);
      assertEquals(await hashFile(this.outPath(node.name)), expected, `${node.name}'s copy`);
    }
    return { code, report, byName, exits, stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const node of Object.values(this.nodes)) {
      node.kill("SIGCONT");
      node.kill("SIGKILL");
    }
    this.#server?.process.kill("SIGKILL");
    await Promise.all(Object.values(this.nodes).map((n) => n.result().catch(() => {})));
    await this.#server?.process.result().catch(() => {});
    await this.#dir?.[Symbol.asyncDispose]();
  }
}

/** Deterministic bytes that compress badly (xorshift32). */
function pseudoRandom(bytes: number): Uint8Array {
  const words = new Uint32Array(bytes / 4);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}
