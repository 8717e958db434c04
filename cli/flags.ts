/**
 * Flags, the machinery: each flag is defined once ({@link FlagSpec}: name, value, typed default,
 * parser, help) in cli/commands.ts, and the parser (node:util parseArgs, used here only), the
 * reading of values with their defaults ({@link read}), the help text and docs/options.md all come
 * from that one definition. Values are converted to the library's units here, at the edge
 * (seconds → milliseconds, sizes → bytes).
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

/** One flag, with the type of its value. */
export interface FlagSpec<T = unknown> {
  /** Long name without dashes. */
  name: string;
  /** Value placeholder, or undefined for a boolean switch. */
  value?: string;
  /** May be repeated. */
  multiple?: boolean;
  /** One-line help. */
  help: string;
  /** The value when the flag is not given (usually the library's own constant). */
  default?: T;
  /** The default as people read it ("30", "32MiB"). */
  shown?: string;
  /** Turns the text given into the value; throws a {@link UsageError}. */
  parse: (text: string, command: string) => T;
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

/** The value of `spec` in `flags`: parsed when given, else its default (possibly undefined). */
export function read<T>(flags: ParsedFlags, spec: FlagSpec<T>, command: string): T | undefined {
  const given = flags[spec.name];
  if (given === undefined) return spec.default;
  if (typeof given === "boolean") return given as T;
  if (Array.isArray(given)) return given as T;
  return spec.parse(given, command);
}

/** True when `spec` was given on the command line. */
export function given(flags: ParsedFlags, spec: FlagSpec): boolean {
  return flags[spec.name] !== undefined;
}

/** A switch (no value). */
export function switchFlag(name: string, help: string): FlagSpec<boolean> {
  return { name, help, default: false, parse: () => true };
}

/** A text value. */
export function textFlag(name: string, value: string, help: string, def?: string): FlagSpec<string> {
  return { name, value, help, default: def, shown: def, parse: (text) => text };
}

/** A text value that may be repeated. */
export function listFlag(name: string, value: string, help: string): FlagSpec<string[]> {
  return { name, value, help, multiple: true, default: [], parse: (text) => [text] };
}

/** One of `choices`. */
export function choiceFlag<T extends string>(
  name: string,
  choices: readonly T[],
  help: string,
  def?: T,
): FlagSpec<T> {
  return {
    name,
    value: choices.join("|"),
    help,
    default: def,
    shown: def,
    parse: (text, command) => {
      if ((choices as readonly string[]).includes(text)) return text as T;
      throw new UsageError(`Option --${name} takes ${orList(choices)}, got "${text}"`, command);
    },
  };
}

/** A whole number within [min, max]. */
export function intFlag(
  name: string,
  value: string,
  help: string,
  min: number,
  max: number,
  def?: number,
): FlagSpec<number> {
  return {
    name,
    value,
    help,
    default: def,
    shown: def === undefined ? undefined : String(def),
    parse: (text, command) => {
      const n = Number(text);
      if (!/^\d+$/.test(text) || n < min || n > max) {
        throw new UsageError(
          `Option --${name} takes a whole number from ${min} to ${max}, got "${text}"`,
          command,
        );
      }
      return n;
    },
  };
}

/** Seconds on the command line, milliseconds in the value; `zero`: 0 is allowed. */
export function secondsFlag(name: string, help: string, defMs?: number, zero = false): FlagSpec<number> {
  return {
    name,
    value: "S",
    help,
    default: defMs,
    shown: defMs === undefined || !Number.isFinite(defMs) ? undefined : String(defMs / 1000),
    parse: (text, command) => {
      const n = Number(text);
      if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (n === 0 && !zero)) {
        throw new UsageError(
          `Option --${name} takes seconds ${zero ? ">= 0" : "> 0"}, got "${text}"`,
          command,
        );
      }
      return n * 1000;
    },
  };
}

/** A size such as 200MB or 2GiB, in bytes; `zero`: 0 is allowed. */
export function sizeFlag(name: string, help: string, def?: number, zero = false): FlagSpec<number> {
  return {
    name,
    value: "SIZE",
    help,
    default: def,
    shown: def === undefined ? undefined : formatSize(def),
    parse: (text, command) =>
      zero && /^0+\s*[kmgt]?i?b?$/i.test(text.trim()) ? 0 : byteSize(text, name, command),
  };
}

/** Parses `args` for `spec`; unknown flags and stray values are {@link UsageError}s. */
export function parseFlags(spec: CommandSpec, args: string[]): { flags: ParsedFlags; positionals: string[] } {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {};
  for (const flag of spec.flags) {
    options[flag.name] = { type: flag.value ? "string" : "boolean", multiple: flag.multiple === true };
  }
  if (options.help) options.help.short = "h";
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { flags: values as ParsedFlags, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
    if (ambiguous) {
      throw new UsageError(
        `Option ${ambiguous[1]} takes a value that starts with "-": write it ${ambiguous[1]}="VALUE"`,
        spec.name,
      );
    }
    throw new UsageError(message.replace(/\. To specify a positional.*$/, ""), spec.name);
  }
}

/** Help text of a command, generated from its flags. */
export function commandHelp(spec: CommandSpec): string {
  const rows = spec.flags.map((f) => {
    const left = `  ${f.name === "help" ? "-h, " : ""}--${f.name}${f.value ? ` ${f.value}` : ""}`;
    return `${left.padEnd(30)} ${f.help}${f.shown ? ` (default ${f.shown})` : ""}`;
  });
  return `Usage: ${spec.usage}\n\n${spec.summary}.\n\nOptions:\n${rows.join("\n")}\n`;
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

/** Parses a size such as 200MB, 2GB, 1GiB or 12345 into bytes. */
export function byteSize(value: string, flag: string, command: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?$/i.exec(value.trim());
  if (!m) {
    throw new UsageError(`Option --${flag} takes a size such as 200MB or 2GiB, got "${value}"`, command);
  }
  const unit = (m[2] ?? "").toLowerCase();
  const power = { "": 0, k: 1, m: 2, g: 3, t: 4 }[unit[0] ?? ""] ?? 0;
  const base = unit.endsWith("i") ? 1024 : 1000;
  const bytes = Math.round(Number(m[1]) * base ** power);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UsageError(`Option --${flag} takes a positive size, got "${value}"`, command);
  }
  return bytes;
}

/** A byte count as a size people write: 32MiB, 200MB, 12345. */
function formatSize(bytes: number): string {
  for (
    const [unit, size] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10], ["GB", 1e9], [
      "MB",
      1e6,
    ]] as const
  ) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}

function orList(words: readonly string[]): string {
  return words.length < 2 ? words.join("") : `${words.slice(0, -1).join(", ")} or ${words.at(-1)}`;
}
