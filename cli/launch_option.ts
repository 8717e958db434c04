/**
 * `kad serve … --launch ssh|pdsh|clush --hosts FILE|LIST`: kad starts `kad join` on the hosts itself
 * (lib/cluster/launcher.ts), starts streaming once every host joined or its launcher failed, and
 * names each host that never joined with the launcher's own error.
 *
 * @module
 */

import { expandHosts, parseHostsFile } from "../lib/cluster/host_list.ts";
import { Launch, type LaunchEnd, type LaunchTool } from "../lib/cluster/launcher.ts";
import { ConfigError, describeError } from "../lib/errors.ts";
import { type FlagSpec, type ParsedFlags, read, UsageError } from "./flags.ts";
import { SERVE_FLAGS as F } from "./commands.ts";
import type { TextOut } from "./terminal.ts";

/** What `--launch` starts, where. */
export interface LaunchChoice {
  tool: LaunchTool;
  hosts: string[];
  /** `kad join` on the hosts (`--remote-kad`) and what it gets besides the server, a name and the token. */
  joinArgv: string[];
  sshOptions: string[];
}

/** `--launch` and its options; null without `--launch`. */
export async function launchChoice(flags: ParsedFlags): Promise<LaunchChoice | null> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "serve");
  const tool = get(F.launch);
  const hostsText = get(F.hosts);
  if (tool === undefined) {
    if (hostsText !== undefined || get(F.joinArgs) !== undefined) {
      throw new UsageError("--hosts and --join-args are for --launch ssh|pdsh|clush", "serve");
    }
    return null;
  }
  if (hostsText === undefined) throw new UsageError(`--launch ${tool} needs --hosts FILE or a list`, "serve");
  const joinArgs = get(F.joinArgs);
  if (joinArgs === undefined) {
    throw new UsageError(
      '--launch needs the nodes\' sink: --join-args="--to DIR" (or --dd DEV, --out FILE…)',
      "serve",
    );
  }
  const hosts = await hostsOf(hostsText);
  if (hosts.length === 0) throw new UsageError(`--hosts ${hostsText} names no host`, "serve");
  return {
    tool,
    hosts,
    joinArgv: [get(F.remoteKad)!, "join", ...joinArgs.split(/\s+/).filter((w) => w !== "")],
    sshOptions: get(F.sshOption)!,
  };
}

/** A hosts file when `text` names one, else a host list. */
async function hostsOf(text: string): Promise<string[]> {
  let file: string | null = null;
  try {
    if ((await Deno.stat(text)).isFile) file = await Deno.readTextFile(text);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ConfigError(`Cannot read the hosts file "${text}": ${describeError(error)}`);
    }
  }
  return file === null ? expandHosts(text) : parseHostsFile(file);
}

/** How long launchers may take to end with their nodes once the deployment is over. */
const LINGER_MS = 5000;

/** Per-host failure lines of pdsh and clush (`pdsh@head: node7: ssh exited with exit code 255`). */
const HOST_EXITED = /(?:^|\s)([^\s:]+): (?:ssh )?exited with exit code (\d+)/;

/** The launchers of a serve, and which hosts are accounted for (joined, or their launcher failed). */
export class LaunchWatch {
  readonly #choice: LaunchChoice;
  readonly #err: TextOut;
  readonly #joined = new Set<string>();
  readonly #failed = new Map<string, string>();
  readonly #lastLines = new Map<string, string>();
  #launch: Launch | null = null;
  #resolve!: () => void;
  /** Resolves once every host joined or failed, with at least one joined. */
  readonly accounted: Promise<void>;
  /** Called when every host failed: nothing will join. */
  onNoneJoined: () => void = () => {};

  /** Watches `choice`'s hosts; says what goes wrong on `err`. */
  constructor(choice: LaunchChoice, err: TextOut) {
    this.#choice = choice;
    this.#err = err;
    this.accounted = new Promise((resolve) => this.#resolve = resolve);
  }

  /** Hosts that never joined. */
  get neverJoined(): number {
    return this.#failed.size;
  }

  /** Starts `kad join --server SERVER` on every host, with `token` on their standard input. */
  start(server: string, token: string | null): void {
    const { tool, hosts, joinArgv, sshOptions } = this.#choice;
    const argv = [...joinArgv.slice(0, 2), "--server", server, ...joinArgv.slice(2)];
    this.#err.write(`kad: starting kad join on ${hosts.length} host(s) with ${tool}\n`);
    this.#launch = Launch.start(
      { tool, hosts, joinArgv: argv, token, sshOptions, onLine: (host, line) => this.#line(host, line) },
      (end) => this.#ended(end),
    );
  }

  /** A node joined under `name`: its host is accounted for. */
  joined(name: string): void {
    if (!this.#choice.hosts.includes(name)) return;
    this.#joined.add(name);
    this.#check();
  }

  /** Waits a moment for the launchers to end with their nodes, then stops those still running. */
  async stop(): Promise<void> {
    const launch = this.#launch;
    if (launch === null) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([launch.ended, new Promise((r) => timer = setTimeout(r, LINGER_MS))]);
    clearTimeout(timer);
    launch.stop();
    await launch.ended;
  }

  #line(host: string, line: string): void {
    const m = HOST_EXITED.exec(line);
    if (m && this.#choice.hosts.includes(m[1])) {
      const said = this.#lastLines.get(m[1]);
      this.#fail(m[1], `${this.#choice.tool}: exit code ${m[2]}${said ? `: ${said}` : ""}`);
      return;
    }
    // pdsh and clush prefix each host's lines with its name
    const prefixed = /^([^\s:]+): (.*)$/.exec(line);
    const who = host || (prefixed && this.#choice.hosts.includes(prefixed[1]) ? prefixed[1] : "");
    if (who !== "") this.#lastLines.set(who, prefixed && who === prefixed[1] ? prefixed[2] : line);
  }

  #ended(end: LaunchEnd): void {
    const hosts = end.host === "" ? this.#choice.hosts : [end.host];
    for (const host of hosts) {
      if (this.#joined.has(host) || this.#failed.has(host)) continue;
      const said = end.message || this.#lastLines.get(host) || "no output";
      this.#fail(host, `${this.#choice.tool} exited with status ${end.code}: ${said}`);
    }
  }

  #fail(host: string, why: string): void {
    if (this.#joined.has(host) || this.#failed.has(host)) return;
    this.#failed.set(host, why);
    this.#err.write(`kad: ${host} never joined: ${why}\n`);
    this.#check();
  }

  #check(): void {
    if (this.#joined.size + this.#failed.size < this.#choice.hosts.length) return;
    if (this.#joined.size > 0) this.#resolve();
    else this.onNoneJoined();
  }
}
