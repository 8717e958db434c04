/**
 * Flags are defined once, here; parsing (node:util parseArgs, the only place it is used) and the
 * help text are generated from the same table.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A command-line usage error: printed with the usage line, exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error for `command`. */
  constructor(message: string, readonly command: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** One flag. */
export interface FlagSpec {
  /** Long name without dashes. */
  name: string;
  /** Value placeholder, or undefined for a boolean switch. */
  value?: string;
  /** May be repeated. */
  multiple?: boolean;
  /** Default shown in help. */
  default?: string;
  /** One-line help. */
  help: string;
}

/** A command's definition. */
export interface CommandSpec {
  /** Command name. */
  name: string;
  /** Usage line after "kad NAME". */
  usage: string;
  /** One-line summary. */
  summary: string;
  /** Its flags. */
  flags: FlagSpec[];
}

/** Parsed flags: strings, booleans, or string arrays for repeatable flags. */
export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

const COMMON: FlagSpec[] = [
  { name: "json", help: "write JSON Lines events on stdout" },
  { name: "timeout", value: "S", default: "30", help: "seconds any wait on a peer may last" },
  { name: "verbose", help: "debug logging on stderr" },
  { name: "help", help: "show this help" },
];

/** `kad serve`. */
export const SERVE: CommandSpec = {
  name: "serve",
  usage: "kad serve [options] DIR | --image FILE | -",
  summary: "stream a directory (tar), an image or stdin once to every node that joins",
  flags: [
    { name: "image", value: "FILE", help: "serve an image file or block device raw (dd style)" },
    { name: "port", value: "PORT", default: "9997", help: "control port nodes join on" },
    { name: "listen", value: "HOST", default: "0.0.0.0", help: "address to listen on" },
    { name: "clients", value: "N", help: "start when N nodes have joined" },
    { name: "wait", value: "S", help: "start when S seconds pass without a new join" },
    { name: "fanout", value: "K", default: "1", help: "children per node: 1 = chain, up to 8 = K-ary tree" },
    { name: "order", value: "join|name", default: "join", help: "order of nodes in the topology" },
    { name: "exclude", value: "PATTERN", multiple: true, help: "tar --exclude pattern (repeatable)" },
    { name: "no-default-excludes", help: "do not leave out /proc, /sys, /dev, /run, /tmp…" },
    { name: "hash", value: "ALG", default: "xxh128", help: "stream hash: xxh128 or sha256" },
    { name: "report", value: "FILE", help: "write the JSON report to FILE" },
    ...COMMON,
  ],
};

/** `kad join`. */
export const JOIN: CommandSpec = {
  name: "join",
  usage: "kad join --server HOST[:PORT] (--to DIR | --dd DEV | --out FILE|- | --cmd CMD | --null)",
  summary: "receive the stream, write it locally and relay it to the next node",
  flags: [
    { name: "server", value: "HOST[:PORT]", help: "the kad server (port 9997 by default)" },
    { name: "to", value: "DIR", help: "extract the tar stream into DIR" },
    { name: "dd", value: "DEV", help: "write raw bytes to a device or file with dd" },
    {
      name: "out",
      value: "FILE",
      help: "write raw bytes to FILE (renamed into place once verified), - for stdout",
    },
    { name: "cmd", value: "COMMAND", help: "pipe the stream into a shell command" },
    { name: "null", help: "only count and hash (for tests and benchmarks)" },
    { name: "name", value: "NAME", help: "node name (default: host name)" },
    { name: "listen", value: "HOST[:PORT]", default: "0.0.0.0:0", help: "data listener address" },
    {
      name: "advertise",
      value: "HOST",
      help: "host the upstream should connect to (default: as the server sees it)",
    },
    ...COMMON,
  ],
};

/** `kad demo`. */
export const DEMO: CommandSpec = {
  name: "demo",
  usage: "kad demo [--nodes N] [SOURCE]",
  summary: "deploy a sample tree (or SOURCE) to N local nodes and verify every clone",
  flags: [
    { name: "nodes", value: "N", default: "4", help: "number of nodes" },
    { name: "fanout", value: "K", default: "1", help: "children per node" },
    { name: "keep", help: "keep the temporary directory" },
    ...COMMON,
  ],
};

/** Every command. */
export const COMMANDS: CommandSpec[] = [SERVE, JOIN, DEMO];

/** Parses `args` for `spec`; unknown flags and stray values are {@link UsageError}s. */
export function parseFlags(spec: CommandSpec, args: string[]): { flags: ParsedFlags; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const flag of spec.flags) {
    options[flag.name] = { type: flag.value ? "string" : "boolean", multiple: flag.multiple === true };
  }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { flags: values as ParsedFlags, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    throw new UsageError(message.replace(/\. To specify a positional.*$/, ""), spec.name);
  }
}

/** Help text of a command, generated from its flags. */
export function commandHelp(spec: CommandSpec): string {
  const rows = spec.flags.map((f) => {
    const left = `  --${f.name}${f.value ? ` ${f.value}` : ""}`;
    const def = f.default ? ` (default ${f.default})` : "";
    return `${left.padEnd(30)} ${f.help}${def}`;
  });
  return `Usage: ${spec.usage}\n\n${spec.summary}.\n\nOptions:\n${rows.join("\n")}\n`;
}

/** Top-level help. */
export function mainHelp(version: string): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`);
  return `kad ${version}: clone one machine onto hundreds at the speed of one.\n\n` +
    `Usage: kad COMMAND [options]\n\nCommands:\n${rows.join("\n")}\n\n` +
    `Run "kad COMMAND --help" for a command's options.\n`;
}

/** Reads a string flag. */
export function str(flags: ParsedFlags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}

/** Reads a positive integer flag within [min, max]. */
export function int(
  flags: ParsedFlags,
  name: string,
  command: string,
  min: number,
  max: number,
): number | undefined {
  const v = str(flags, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) {
    throw new UsageError(`Option --${name} takes a whole number from ${min} to ${max}, got "${v}"`, command);
  }
  return n;
}

/** Reads a positive number of seconds. */
export function seconds(flags: ParsedFlags, name: string, command: string): number | undefined {
  const v = str(flags, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`Option --${name} takes seconds > 0, got "${v}"`, command);
  }
  return n;
}

/** Parses "HOST[:PORT]" (IPv6 in brackets). */
export function hostPort(
  value: string,
  defaultPort: number,
  command: string,
): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+))(?::(\d+))?$/.exec(value);
  const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
  if (!m || port > 65535) throw new UsageError(`Invalid address "${value}": expected HOST[:PORT]`, command);
  return { host: m[1] ?? m[2], port };
}
