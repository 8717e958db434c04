/**
 * `kad serve`.
 *
 * @module
 */

import { JOINED_PHASE, RECEIVED_PHASE } from "../lib/report/phase.ts";
import { allOk, type DeploymentReport } from "../lib/report/report.ts";
import { type ServeEvent, Server } from "../lib/server/serve.ts";
import type { StartTrigger } from "../lib/server/start_trigger.ts";
import type { SourceSpec } from "../lib/source/source.ts";
import { type FlagSpec, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, SERVE_FLAGS as F } from "./commands.ts";
import { formatBytes } from "./progress.ts";
import { renderReport } from "./report_table.ts";
import { serverTls } from "./tls_option.ts";
import { INSECURE_WARNING, TOKEN_ENV, type TokenChoice, tokenChoice } from "./join_token_option.ts";
import { interruptSignal } from "./signals.ts";
import { stderrOut, stdoutOut, useColor } from "./terminal.ts";
import { ServeStatus } from "./serve_status.ts";
import { launchChoice, LaunchWatch } from "./launch_option.ts";
import { ConfigError, describeError } from "../lib/errors.ts";
import { parseRacksFile } from "../lib/topology/racks_file.ts";

/** Runs `kad serve`; returns the exit code. */
export async function serveCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "serve");
  const source = sourceSpec(flags, positionals);
  const clients = get(F.clients);
  const waitMs = get(F.wait);
  const waitSeconds = waitMs === undefined ? undefined : waitMs / 1000;
  const stdinIsTty = Deno.stdin.isTerminal() && source.kind !== "stdin";
  const launch = await launchChoice(flags);
  if (clients === undefined && waitSeconds === undefined && !stdinIsTty && launch === null) {
    throw new UsageError("Nothing would start the deployment: give --clients N or --wait S", "serve");
  }
  const json = get(COMMON.json)!;
  const err = stderrOut();
  const out = stdoutOut();
  const auth = await tokenChoice(flags, "serve", "server");
  const tls = await serverTls(flags, "serve");
  const racks = await racksOf(get(F.nodesFile));
  const status = await ServeStatus.start(flags, auth.token, tls, source, err);
  const interrupt = interruptSignal();
  // --launch: the start comes once every host joined or its launcher failed
  const watch = launch && new LaunchWatch(launch, err);
  const noneJoined = new AbortController();
  if (watch) {
    watch.onNoneJoined = () => {
      err.write("kad: no host joined: every launcher failed (see above)\n");
      noneJoined.abort();
    };
  }
  const enter = stdinIsTty ? waitForEnter() : undefined;
  const manual = watch && enter ? Promise.race([enter, watch.accounted]) : watch?.accounted ?? enter;
  const start: StartTrigger = { clients, waitSeconds, manual, minClients: get(F.minClients) };
  if (auth.token === null) err.write(INSECURE_WARNING + "\n");
  const server = new Server({
    source,
    token: auth.token,
    tls,
    listen: { host: get(F.listen)!, port: get(F.port)! },
    start,
    fanout: get(COMMON.fanout)!,
    order: get(F.order)!,
    hash: get(F.hash)!,
    compression: get(F.compress) ?? null,
    timeoutMs: get(COMMON.timeout)!,
    stallTimeoutMs: get(F.stallTimeout)!,
    connectTimeoutMs: get(COMMON.connectTimeout)!,
    ringBytes: get(COMMON.ring)!,
    abortOnNodeFailure: get(F.abortOnNodeFailure)!,
    lateJoins: get(F.lateJoins) === "yes",
    slowNodes: get(F.slowNodes),
    racks,
    signal: AbortSignal.any([interrupt.signal, noneJoined.signal]),
    onEvent: (event) => {
      status.apply(event);
      if (event.type === "joined") watch?.joined(event.node.name);
      if (json) out.write(JSON.stringify(jsonEvent(event, auth, status)) + "\n");
      const text = describe(event, stdinIsTty, start);
      if (text) {
        status.clearView();
        err.write(text + "\n");
      }
      if (event.type === "listening") {
        err.write(joinHint(event.host, event.port, source, auth, tls !== null) + "\n");
      }
    },
  });
  try {
    const port = await server.listen();
    watch?.start(`${launchAddress(get(F.listen)!)}:${port}`, auth.token);
    const report = await server.run();
    await status.close();
    const reportFile = get(F.report);
    if (reportFile) await writeReport(reportFile, report);
    if (!json) out.write(renderReport(report, useColor(out)));
    return interrupt.exitCode ?? (allOk(report) && !watch?.neverJoined ? 0 : 1);
  } catch (error) {
    if (interrupt.exitCode !== null) return interrupt.exitCode;
    throw error;
  } finally {
    await status.close().catch(() => {});
    await watch?.stop();
    interrupt.dispose();
  }
}

/** The address launched nodes reach the server at: `--listen`'s, unless that is every address. */
function launchAddress(listen: string): string {
  if (listen !== "0.0.0.0" && listen !== "::") return listen.includes(":") ? `[${listen}]` : listen;
  return Deno.hostname();
}

function sourceSpec(flags: ParsedFlags, positionals: string[]): SourceSpec {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "serve");
  const image = get(F.image);
  const bench = get(F.bench);
  if (positionals.length > 1) throw new UsageError(`Too many arguments: ${positionals.join(" ")}`, "serve");
  const [target] = positionals;
  if ([image, bench, target].filter((v) => v !== undefined).length > 1) {
    throw new UsageError("Give only one source: DIR, --image FILE, --bench SIZE or -", "serve");
  }
  const size = get(F.size);
  if (size !== undefined && image === undefined && target !== "-") {
    throw new UsageError("--size is for --image FILE and - (standard input)", "serve");
  }
  const tar = get(F.tar)!;
  if (tar && image === undefined && target !== "-") {
    throw new UsageError(
      "--tar is for --image FILE and - (a directory is always streamed as a tar)",
      "serve",
    );
  }
  if (image !== undefined) return { kind: "image", path: image, size, tar };
  if (bench !== undefined) return { kind: "generated", bytes: bench };
  if (target === "-") return { kind: "stdin", size, tar };
  if (target === undefined) throw new UsageError("Nothing to serve: give DIR, --image FILE or -", "serve");
  return { kind: "dir", path: target, excludes: get(F.exclude)!, defaultExcludes: !get(F.noDefaultExcludes) };
}

async function waitForEnter(): Promise<void> {
  const buf = new Uint8Array(64);
  for (;;) {
    const n = await Deno.stdin.read(buf);
    if (n === null || buf.subarray(0, n).includes(10)) return;
  }
}

function describe(event: ServeEvent, tty: boolean, start: StartTrigger): string {
  switch (event.type) {
    case "listening": {
      const how = [
        start.clients !== undefined ? `${start.clients} nodes` : "",
        start.waitSeconds !== undefined ? `${start.waitSeconds} s without a new join` : "",
        tty ? "Enter" : "",
      ].filter((s) => s).join(", or ") || "every launched host joined (or failed)";
      return `kad: listening on ${event.host}:${event.port}; starting on ${how}`;
    }
    case "joined": {
      const renamed = event.renamedFrom === null
        ? ""
        : ` (as ${event.node.name}: ${event.renamedFrom} was taken)`;
      return `kad: ${event.node.name} joined from ${event.node.address.host}:${event.node.address.port}` +
        `${renamed} (${event.count} node${event.count === 1 ? "" : "s"})`;
    }
    case "idle":
      return `kad: no node has joined yet (${event.seconds} s); start kad join on the nodes (see above)`;
    case "left":
      return `kad: ${event.name} left before the start: ${event.reason} (${event.count} nodes)`;
    case "refused": {
      const { name, address, reason, untold } = event.refusal;
      const more = untold > 0
        ? ` (and ${untold} more refusal${untold === 1 ? "" : "s"} from ${address})`
        : "";
      return `kad: refused ${name || "a connection"} from ${address}: ${reason}${more}`;
    }
    case "planned": {
      const { fanout, racks, nodes } = event.plan;
      const shape = fanout === 1 ? "chain" : `${fanout}-ary tree`;
      if (racks.length > 0) {
        const each = racks.map(({ rack, first }, i) => {
          const count = (racks[i + 1]?.first ?? nodes.length + 1) - first;
          return `${rack || "no rack"}: ${count} from ${nodes[first - 1].name}`;
        });
        return `kad: streaming to ${nodes.length} node(s) as one ${shape} per rack (${each.join("; ")})`;
      }
      const names = event.plan.nodes.slice(0, 12).map((n) => n.name);
      if (event.plan.nodes.length > 12) names.push(`… (${event.plan.nodes.length - 12} more)`);
      return `kad: streaming to ${event.plan.nodes.length} node(s) as a ${shape}: ` +
        names.join(event.plan.fanout === 1 ? " → " : ", ");
    }
    case "phase": {
      const { phase, ok, detail } = event.phase;
      if (ok && (phase === JOINED_PHASE || phase === RECEIVED_PHASE)) return ""; // said by other lines
      return `kad: ${event.name}: ${phase}${ok ? "" : " FAILED"}${detail ? ` (${detail})` : ""}`;
    }
    case "node-lost":
      return `kad: ${event.name} lost (${event.error.code}: ${event.error.message}); repairing around it`;
    case "node-moved":
      return `kad: moved ${event.name} off the chain (${event.reason.message}); the server feeds it on its own`;
    case "repaired": {
      const r = event.repair;
      if (r.error) {
        return `kad: repair after ${r.failed} failed for ${r.child}: ${r.error.code}: ${r.error.message}`;
      }
      return `kad: repaired after ${r.failed}: ${r.upstream} feeds ${r.child} from ${
        formatBytes(r.offset ?? 0)
      } ` +
        `(resent ${formatBytes(r.resentBytes)}, ${r.seconds.toFixed(2)} s)`;
    }
    case "late-joined":
      return event.rejoin
        ? `kad: ${event.node.name} is back (position ${event.node.position}): the server feeds it what it lacks`
        : `kad: ${event.node.name} joined late: position ${event.node.position}, fed by the server from the first byte`;
    case "grafted": {
      if (event.error) {
        return `kad: ${event.name} could not be fed: ${event.error.code}: ${event.error.message}`;
      }
      return `kad: ${event.name} catches up: ${formatBytes(event.resent)} behind the source`;
    }
    case "progress": // the live view shows it
    case "node-done":
    case "done":
      return "";
  }
}

/**
 * What to run on the nodes. A generated token is printed in full (it exists nowhere else); a token
 * the operator gave is not echoed.
 */
function joinHint(host: string, port: number, source: SourceSpec, auth: TokenChoice, tls: boolean): string {
  const where = host === "0.0.0.0" || host === "::" ? Deno.hostname() : host;
  const sink = source.kind === "dir"
    ? "--to DIR"
    : source.kind === "image"
    ? "--dd DEVICE"
    : source.kind === "generated"
    ? "--null"
    : "--out FILE";
  const token = auth.token === null
    ? "--insecure"
    : auth.generated
    ? `--token ${auth.token}`
    : `--token-file FILE (or ${TOKEN_ENV}=…)`;
  const intro = auth.generated
    ? "kad: generated a join token; on every node run:"
    : "kad: on every node run:";
  return `${intro}\n  kad join --server ${where}:${port} ${token}${tls ? " --tls --ca CA_FILE" : ""} ${sink}`;
}

/** A JSON event: its name, its time `t` (seconds since the start), then its fields. */
function jsonEvent(event: ServeEvent, auth: TokenChoice, status: ServeStatus): Record<string, unknown> {
  const ui = event.type === "listening" && status.uiUrl !== null ? { ui: status.uiUrl } : {};
  return { event: event.type, t: status.t, ...jsonFields(event, auth), ...ui };
}

function jsonFields(event: ServeEvent, auth: TokenChoice): Record<string, unknown> {
  switch (event.type) {
    case "listening":
      return {
        host: event.host,
        port: event.port,
        authenticated: auth.token !== null,
        tls: event.tls,
        ...(auth.generated ? { token: auth.token } : {}),
      };
    case "joined":
      return {
        name: event.node.name,
        address: event.node.address,
        count: event.count,
        renamedFrom: event.renamedFrom,
      };
    case "idle":
      return { seconds: event.seconds };
    case "left":
      return { name: event.name, count: event.count, reason: event.reason };
    case "refused":
      return { ...event.refusal };
    case "planned":
      return { fanout: event.plan.fanout, nodes: event.plan.nodes };
    case "late-joined":
      return { ...event.node, rejoin: event.rejoin };
    case "grafted":
      return { name: event.name, offset: event.offset, resent: event.resent, error: event.error };
    case "progress":
      return { ...event.progress };
    case "node-done":
      return { ...event.node };
    case "node-lost":
      return { name: event.name, error: event.error };
    case "node-moved":
      return { name: event.name, from: event.from, reason: event.reason };
    case "phase":
      return { name: event.name, ...event.phase };
    case "repaired":
      return { ...event.repair };
    case "done":
      return { report: event.report };
  }
}

/** `--nodes-file FILE`: each listed node's rack. */
async function racksOf(file: string | undefined): Promise<Map<string, string> | undefined> {
  if (file === undefined) return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(`Cannot read the nodes file "${file}": ${describeError(error)}`);
  }
  return parseRacksFile(text, file);
}

async function writeReport(path: string, report: DeploymentReport): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(report, null, 2) + "\n");
}
