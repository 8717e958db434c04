/**
 * `kad join`.
 *
 * @module
 */

import { join, type JoinEvent, type JoinResult } from "../lib/node/join.ts";
import type { SinkSpec } from "../lib/sink/sink.ts";
import { describeError } from "../lib/errors.ts";
import type { PostInstallSpec } from "../lib/node/post_install.ts";
import { parsePhaseNote, type PhaseNote } from "../lib/report/phase.ts";
import { type FlagSpec, given, hostPort, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, JOIN_FLAGS as F } from "./commands.ts";
import { DEFAULT_CONTROL_PORT } from "../lib/protocol/frame.ts";
import { formatBytes, formatProgress, ProgressLine } from "./progress.ts";
import { roundSeconds } from "../lib/time/seconds.ts";
import { parseLabel } from "../lib/topology/racks_file.ts";
import { MAX_LABELS } from "../lib/protocol/limits.ts";
import { INSECURE_WARNING, tokenChoice } from "./join_token_option.ts";
import { nodeTls } from "./tls_option.ts";
import { interruptSignal } from "./signals.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** The default control port. */
/** Runs `kad join`; returns the exit code. */
export async function joinCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "join");
  if (positionals.length > 0) throw new UsageError(`Unexpected argument "${positionals[0]}"`, "join");
  const serverFlag = get(F.server);
  if (serverFlag === undefined) throw new UsageError("Missing --server HOST[:PORT]", "join");
  const sink = sinkSpec(flags);
  const json = get(COMMON.json)! && sink.kind !== "stdout";
  const err = stderrOut();
  const out = stdoutOut();
  const progress = new ProgressLine(err);
  const interrupt = interruptSignal();
  const chosenName = get(F.name);
  if (chosenName !== undefined) checkNodeName(chosenName);
  const name = chosenName ?? Deno.hostname();
  const { token } = await tokenChoice(flags, "join", "node");
  const tls = await nodeTls(flags, "join");
  if (token === null) err.write(INSECURE_WARNING + "\n");
  const startedAt = performance.now();
  let receiveStart = 0;
  try {
    const result = await join({
      server: hostPort(serverFlag, DEFAULT_CONTROL_PORT, "join"),
      name,
      renameIfTaken: chosenName === undefined,
      token,
      tls,
      sink,
      raw: rawFlag(get(F.raw)!, sink),
      waitServerMs: get(F.waitServer),
      listen: hostPort(get(F.listen)!, 0, "join"),
      ...advertised(get(F.advertise)),
      timeoutMs: get(COMMON.timeout),
      connectTimeoutMs: get(COMMON.connectTimeout),
      ringBytes: get(COMMON.ring),
      abortOnSinkError: get(F.abortOnSinkError),
      phases: phaseNotes(flags),
      labels: labels(flags),
      postInstall: postInstall(flags),
      signal: interrupt.signal,
      onEvent: (event) => {
        if (json) {
          const t = roundSeconds((performance.now() - startedAt) / 1000);
          out.write(JSON.stringify({ event: event.type, t, ...eventBody(event) }) + "\n");
        }
        if (event.type === "planned") receiveStart = performance.now();
        if (event.type === "progress") {
          progress.update(formatProgress({
            bytes: event.bytes,
            totalBytes: event.streamBytes,
            seconds: (performance.now() - (receiveStart || startedAt)) / 1000,
          }));
          return;
        }
        const text = describe(event);
        if (text) {
          progress.clear();
          err.write(text + "\n");
        }
      },
    });
    progress.clear();
    return interrupt.exitCode ?? (result.status === "ok" ? 0 : 1);
  } catch (error) {
    if (interrupt.exitCode === null) throw error;
    progress.clear();
    err.write(`kad: interrupted: ${describeError(error)}\n`);
    return interrupt.exitCode;
  } finally {
    interrupt.dispose();
  }
}

/** A name the operator gave: one line, at most 255 characters (the protocol's limit). */
export function checkNodeName(name: string, command = "join"): void {
  const control = [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
  if (name === "" || name.length > 255 || control) {
    throw new UsageError(
      "Option --name takes 1 to 255 characters without control characters (newlines, tabs)",
      command,
    );
  }
}

/** `--raw`: only meaningful for sinks that store bytes. */
function rawFlag(raw: boolean, sink: SinkSpec): boolean {
  if (!raw) return false;
  if (sink.kind !== "dd" && sink.kind !== "file") {
    throw new UsageError("--raw is for --dd and --out: it stores a tar stream's bytes as they are", "join");
  }
  return true;
}

/** `--phase NAME[:DETAIL]`, repeated: phases before the join. */
function phaseNotes(flags: ParsedFlags): PhaseNote[] {
  return read(flags, F.phase, "join")!.map((text) => {
    try {
      return parsePhaseNote(text);
    } catch (error) {
      throw new UsageError(describeError(error), "join");
    }
  });
}

/** `--label KEY=VALUE`, repeatable. */
function labels(flags: ParsedFlags): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const text of read(flags, F.label, "join")!) {
    try {
      const { key, value } = parseLabel(text, "Option --label");
      labels[key] = value;
    } catch (error) {
      throw new UsageError(describeError(error), "join");
    }
  }
  if (Object.keys(labels).length > MAX_LABELS) throw new UsageError(`At most ${MAX_LABELS} labels`, "join");
  return labels;
}

/** `--post-install CMD [--post-install-timeout S]`. */
function postInstall(flags: ParsedFlags): PostInstallSpec | null {
  const command = read(flags, F.postInstall, "join");
  const timeoutMs = read(flags, F.postInstallTimeout, "join")!;
  if (command === undefined) {
    if (given(flags, F.postInstallTimeout)) {
      throw new UsageError("--post-install-timeout needs --post-install", "join");
    }
    return null;
  }
  if (command.trim() === "") throw new UsageError("--post-install needs a command", "join");
  return { command, timeoutMs };
}

/** `--advertise HOST[:PORT]`: what the upstream should connect to instead of what the server sees. */
function advertised(value: string | undefined): { advertise: string; advertisePort: number } {
  if (value === undefined) return { advertise: "", advertisePort: 0 };
  const { host, port } = hostPort(value, 0, "join");
  return { advertise: host, advertisePort: port };
}

function sinkSpec(flags: ParsedFlags): SinkSpec {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "join");
  const sinks: SinkSpec[] = [];
  const to = get(F.to);
  const dd = get(F.dd);
  const outFile = get(F.out);
  const cmd = get(F.cmd);
  if (to !== undefined) sinks.push({ kind: "dir", path: to });
  if (dd !== undefined) sinks.push({ kind: "dd", path: dd });
  if (outFile !== undefined) {
    sinks.push(outFile === "-" ? { kind: "stdout" } : { kind: "file", path: outFile });
  }
  if (cmd !== undefined) sinks.push({ kind: "command", command: cmd });
  if (get(F.null)) sinks.push({ kind: "null" });
  if (sinks.length === 0) {
    throw new UsageError("No sink: give one of --to DIR, --dd DEV, --out FILE, --cmd, --null", "join");
  }
  if (sinks.length > 1) throw new UsageError("Give only one of --to, --dd, --out, --cmd, --null", "join");
  return sinks[0];
}

function eventBody(event: JoinEvent): Record<string, unknown> {
  const { type: _type, ...body } = event;
  return body;
}

function describe(event: JoinEvent): string {
  switch (event.type) {
    case "listening":
      return "";
    case "waiting":
      return `kad: waiting for kad serve at ${event.server}… (${event.seconds} s; ${event.reason})`;
    case "joined": {
      const renamed = event.renamedFrom === null
        ? ""
        : `; the name ${event.renamedFrom} was taken, so this node is ${event.name} (--name to choose one)`;
      if (event.resumeFrom) {
        return `kad: ${event.name} is back in its deployment: taking up its copy at ${
          formatBytes(event.resumeFrom)
        } (reading back what it kept first)`;
      }
      return `kad: ${event.name} joined (node #${event.joinIndex + 1})${renamed}; ` +
        `waiting for the start of ${event.stream.description}`;
    }
    case "planned": {
      const to = event.children.length ? event.children.join(", ") : "nobody (tail)";
      return `kad: position ${event.position} of ${event.nodeCount}: from ${event.upstream}, relaying to ${to}`;
    }
    case "progress":
      return "";
    case "orphaned":
      return `kad: lost upstream ${event.upstream} at ${event.bytes} bytes (${event.reason.code}: ${event.reason.message}); waiting for the server's repair`;
    case "relinked":
      return `kad: ${event.upstream} feeds this node now, from byte ${event.bytes}`;
    case "post-install":
      return `kad: post-install: ${event.command}`;
    case "post-install-output":
      return event.line;
    case "done":
      return describeResult(event.result);
  }
}

function describeResult(result: JoinResult): string {
  const rate = result.seconds > 0 ? result.bytes / result.seconds / 1e6 : 0;
  if (result.status === "ok") {
    return `kad: ${result.name}: ok, ${result.bytes} bytes verified in ${result.seconds.toFixed(1)} s ` +
      `(${rate.toFixed(1)} MB/s)`;
  }
  return `kad: ${result.name}: failed ${result.error?.code}: ${result.error?.message}`;
}
