/**
 * Runs the real kad entry point as separate processes, from source and from the bundle that
 * `deno compile` would embed, and drives whole deployments on loopback.
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import type { DeploymentReport } from "../../lib/report/report.ts";
import { kadCommand } from "../../cli/self_exec.ts";
import { lines } from "../../lib/text/lines.ts";

/** A way to start kad. */
export interface KadVariant {
  /** "source" or "bundle". */
  name: string;
  /** argv prefix. */
  argv: string[];
}

/** The join token every kad the tests start shares (through KAD_TOKEN), unless a test says otherwise. */
export const TEST_TOKEN = "kad-test-token-0123456789";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/**
 * kad from cli/main.ts, and from dist/kad.js when it was bundled (deno task test bundles first).
 * `KAD_TEST_BUNDLE=FILE` runs every spec against that bundle alone (e.g. an older build, to see
 * which specs fail before a change).
 */
export function kadVariants(): KadVariant[] {
  const only = Deno.env.get("KAD_TEST_BUNDLE");
  if (only) return [{ name: "bundle", argv: kadCommand(only) }];
  const variants = [{ name: "source", argv: kadCommand(join(ROOT, "cli/main.ts")) }];
  const bundle = join(ROOT, "dist/kad.js");
  try {
    Deno.statSync(bundle);
    variants.push({ name: "bundle", argv: kadCommand(bundle) });
  } catch {
    console.warn("tests: dist/kad.js not found, bundle variant skipped (run deno task bundle)");
  }
  return variants;
}

/** A running kad process with captured output. */
export class KadProcess {
  readonly child: Deno.ChildProcess;
  readonly stdout: Promise<string>;
  readonly stderr: Promise<string>;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | null;

  constructor(
    variant: KadVariant,
    args: string[],
    options: { stdin?: boolean; lines?: (line: string) => void; env?: Record<string, string> } = {},
  ) {
    this.child = new Deno.Command(variant.argv[0], {
      args: [...variant.argv.slice(1), ...args],
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", KAD_TOKEN: TEST_TOKEN, ...options.env },
    }).spawn();
    this.#stdin = options.stdin ? this.child.stdin.getWriter() : null;
    this.stdout = collect(this.child.stdout, options.lines);
    this.stderr = collect(this.child.stderr);
  }

  /** Writes to stdin. */
  async write(bytes: Uint8Array): Promise<void> {
    await this.#stdin!.write(bytes);
  }

  /** Closes stdin. */
  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
  }

  /** Sends a signal. */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    try {
      this.child.kill(signal);
    } catch {
      // exited
    }
  }

  /**
   * Waits for exit and returns code and output. A process still running after `deadlineMs` is
   * killed, so a spec whose process never ends fails instead of hanging the suite.
   */
  async result(deadlineMs = 300_000): Promise<{ code: number; stdout: string; stderr: string }> {
    const timer = setTimeout(() => this.kill("SIGKILL"), deadlineMs);
    const status = await this.child.status.finally(() => clearTimeout(timer));
    await this.closeStdin();
    return { code: status.code, stdout: await this.stdout, stderr: await this.stderr };
  }
}

async function collect(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void): Promise<string> {
  let all = "";
  for await (const line of lines(stream)) {
    all += `${line}\n`;
    onLine?.(line);
  }
  return all;
}

/** A kad server started with --json on a free loopback port, with its events. */
export class KadServer {
  readonly process: KadProcess;
  readonly port: Promise<number>;
  readonly events: Record<string, unknown>[] = [];
  #joinedWaiters: { count: number; resolve: () => void }[] = [];

  constructor(
    variant: KadVariant,
    args: string[],
    options: { stdin?: boolean; listenHost?: string; env?: Record<string, string> } = {},
  ) {
    let resolvePort!: (port: number) => void;
    let rejectPort!: (error: Error) => void;
    this.port = new Promise((resolve, reject) => {
      resolvePort = resolve;
      rejectPort = reject;
    });
    this.process = new KadProcess(variant, [
      "serve",
      ...args,
      "--listen",
      options.listenHost ?? "127.0.0.1",
      "--port",
      "0",
      "--json",
    ], {
      stdin: options.stdin,
      env: options.env,
      lines: (line) => {
        const event = JSON.parse(line);
        this.events.push(event);
        if (event.event === "listening") resolvePort(event.port);
        const joined = this.events.filter((e) => e.event === "joined").length;
        this.#joinedWaiters = this.#joinedWaiters.filter((w) => {
          if (joined >= w.count) w.resolve();
          return joined < w.count;
        });
      },
    });
    this.process.child.status.then(() => rejectPort(new Error("server exited before listening")));
  }

  /**
   * Resolves when `count` nodes have joined; rejects when that has not happened within
   * `deadlineMs` or the server exited first, so a spec waiting for a node that never comes fails.
   */
  joined(count: number, deadlineMs = 60_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const joined = new Promise<void>((resolve) => this.#joinedWaiters.push({ count, resolve }));
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${count} node(s) did not join within ${deadlineMs} ms`)),
        deadlineMs,
      );
      this.process.child.status.then(() =>
        reject(new Error(`the server exited before ${count} node(s) joined`))
      );
    });
    failed.catch(() => {});
    return Promise.race([joined, failed]).finally(() => clearTimeout(timer));
  }

  /**
   * Exit code and the report from the "done" event. A server still running after `deadlineMs`
   * is killed, so a broken test fails instead of hanging the suite.
   */
  async result(
    deadlineMs = 90_000,
  ): Promise<{ code: number; report: DeploymentReport | null; stderr: string }> {
    const timer = setTimeout(() => this.process.kill("SIGKILL"), deadlineMs);
    const { code, stderr } = await this.process.result().finally(() => clearTimeout(timer));
    const done = this.events.find((e) => e.event === "done");
    return { code, report: done ? done.report as DeploymentReport : null, stderr };
  }
}

/** Where a node finds the server and listens itself (loopback by default). */
export interface JoinPlace {
  /** The server's host. */
  serverHost?: string;
  /** The node's data listener. */
  listen?: string;
}

/**
 * Starts `kad join` against a server (on loopback unless `place` says otherwise), with the default
 * timeouts. `name`: the node's `--name`, for specs that find it in the report by name; null lets it
 * take its default (the host name, made unique by the server), as people run it.
 */
export function startJoin(
  variant: KadVariant,
  port: number,
  name: string | null,
  sinkArgs: string[],
  extra: string[] = [],
  place: JoinPlace = {},
) {
  return new KadProcess(variant, [
    "join",
    "--server",
    `${place.serverHost ?? "127.0.0.1"}:${port}`,
    ...(name === null ? [] : ["--name", name]),
    "--listen",
    place.listen ?? "127.0.0.1:0",
    ...sinkArgs,
    ...extra,
  ]);
}

/** One deployment: a server and one join per sink, all waited for; nodes take their default names. */
export async function deploy(
  variant: KadVariant,
  serveArgs: string[],
  sinks: string[][],
): Promise<{
  server: { code: number; report: DeploymentReport | null; stderr: string };
  nodes: { code: number; stdout: string; stderr: string }[];
}> {
  const server = new KadServer(variant, [...serveArgs, "--clients", String(sinks.length)]);
  const port = await server.port;
  const joins = sinks.map((sink) => startJoin(variant, port, null, sink));
  const nodes = await Promise.all(joins.map((j) => j.result()));
  return { server: await server.result(), nodes };
}

/** The same kad, run inside a network namespace through `ip netns exec`. */
export function inNamespace(variant: KadVariant, namespace: string): KadVariant {
  return {
    name: `${variant.name} in ${namespace}`,
    argv: ["ip", "netns", "exec", namespace, ...variant.argv],
  };
}
