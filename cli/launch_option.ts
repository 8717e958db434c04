/**
 * `kad serve … --launch ssh|pdsh|clush --hosts FILE|LIST`: kad starts `kad join` on the hosts itself
 * (lib/cluster/launcher.ts), starts streaming once every host joined or its launcher failed, and
 * names each host that never joined with the launcher's own error.
 *
 * @module
 */

import { expandHosts, parseHostsFile } from "../lib/cluster/host_list.ts";
import { Launch, type LaunchEnd, type LaunchTool } from "../lib/cluster/launcher.ts";
import { AgentDeploy } from "../lib/agent/agent_deploy.ts";
import { DEFAULT_HEAD_PORT } from "../lib/agent/head.ts";
import { ConfigError, describeError } from "../lib/errors.ts";
import { type FlagSpec, hostPort, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, SERVE_FLAGS as F } from "./commands.ts";
import type { TextOut } from "./terminal.ts";

/** What `--launch` starts, where. */
export interface LaunchChoice {
  tool: LaunchTool | "agents";
  /** The hosts; with agents, those asked for (empty: every connected agent, known once the head answers). */
  hosts: string[];
  /** `kad join` on the hosts (`--remote-kad`) and what it gets besides the server, a name and the token. */
  joinArgv: string[];
  sshOptions: string[];
  /** With agents: their head. */
  head: { host: string; port: number };
  /** Limit on reaching the head. */
  connectTimeoutMs: number;
}

/** `--launch` and its options; null without `--launch`. */
export async function launchChoice(flags: ParsedFlags): Promise<LaunchChoice | null> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "serve");
  const tool = get(F.launch);
  const hostsText = get(F.hosts);
  if (tool === undefined) {
    if (hostsText !== undefined || get(F.joinArgs) !== undefined) {
      throw new UsageError("--hosts and --join-args are for --launch ssh|pdsh|clush|agents", "serve");
    }
    return null;
  }
  if (hostsText === undefined && tool !== "agents") {
    throw new UsageError(`--launch ${tool} needs --hosts FILE or a list`, "serve");
  }
  const joinArgs = get(F.joinArgs);
  if (joinArgs === undefined) {
    throw new UsageError(
      '--launch needs the nodes\' sink: --join-args="--to DIR" (or --dd DEV, --out FILE…)',
      "serve",
    );
  }
  const hosts = hostsText === undefined ? [] : await hostsOf(hostsText);
  if (hostsText !== undefined && hosts.length === 0) {
    throw new UsageError(`--hosts ${hostsText} names no host`, "serve");
  }
  return {
    tool,
    hosts,
    joinArgv: [get(F.remoteKad)!, "join", ...joinArgs.split(/\s+/).filter((w) => w !== "")],
    sshOptions: get(F.sshOption)!,
    head: hostPort(get(F.head)!, DEFAULT_HEAD_PORT, "serve"),
    connectTimeoutMs: get(COMMON.connectTimeout)!,
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
  /** The hosts to account for (with agents: known once the head planned the deployment). */
  #hosts: string[];
  #launch: Launch | AgentDeploy | null = null;
  #resolve!: () => void;
  /** Resolves once every host joined or failed, with at least one joined. */
  readonly accounted: Promise<void>;
  /** Called when every host failed: nothing will join. */
  onNoneJoined: () => void = () => {};

  /** Watches `choice`'s hosts; says what goes wrong on `err`. */
  constructor(choice: LaunchChoice, err: TextOut) {
    this.#choice = choice;
    this.#err = err;
    this.#hosts = choice.hosts;
    this.accounted = new Promise((resolve) => this.#resolve = resolve);
  }

  /** Hosts that never joined. */
  get neverJoined(): number {
    return this.#failed.size;
  }

  /** Starts `kad join --server SERVER` on every host, with `token` on their standard input. */
  start(server: string, token: string | null): void {
    const { tool, hosts, joinArgv, sshOptions } = this.#choice;
    if (tool === "agents") {
      const { host, port } = this.#choice.head;
      this.#err.write(`kad: handing the deployment to the agents of kad head at ${host}:${port}\n`);
      this.#launch = new AgentDeploy({
        head: this.#choice.head,
        token: token!,
        port: Number(server.slice(server.lastIndexOf(":") + 1)),
        args: joinArgv.slice(2),
        nodes: hosts.length > 0 ? hosts : null,
        connectTimeoutMs: this.#choice.connectTimeoutMs,
        onHosts: (planned) => {
          this.#hosts = planned;
          if (planned.length > 0) return this.#check();
          this.#err.write("kad: no agent is connected to the head\n");
          this.onNoneJoined();
        },
        onLine: (host, line) => this.#line(host, line),
        onEnd: (end) => this.#ended(end),
      });
      return;
    }
    const argv = [...joinArgv.slice(0, 2), "--server", server, ...joinArgv.slice(2)];
    this.#err.write(`kad: starting kad join on ${hosts.length} host(s) with ${tool}\n`);
    this.#launch = Launch.start(
      { tool, hosts, joinArgv: argv, token, sshOptions, onLine: (host, line) => this.#line(host, line) },
      (end) => this.#ended(end),
    );
  }

  /** A node joined under `name`: its host is accounted for. */
  joined(name: string): void {
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
    if (m && this.#hosts.includes(m[1])) {
      const said = this.#lastLines.get(m[1]);
      this.#fail(m[1], `${this.#choice.tool}: exit code ${m[2]}${said ? `: ${said}` : ""}`);
      return;
    }
    // pdsh and clush prefix each host's lines with its name
    const prefixed = /^([^\s:]+): (.*)$/.exec(line);
    const who = host || (prefixed && this.#hosts.includes(prefixed[1]) ? prefixed[1] : "");
    if (who !== "") this.#lastLines.set(who, prefixed && who === prefixed[1] ? prefixed[2] : line);
  }

  #ended(end: LaunchEnd): void {
    if (end.host === "" && this.#hosts.length === 0) {
      this.#err.write(`kad: ${end.message}\n`); // the head could not be reached
      return this.onNoneJoined();
    }
    const hosts = end.host === "" ? this.#hosts : [end.host];
    for (const host of hosts) {
      if (this.#joined.has(host) || this.#failed.has(host)) continue;
      const said = end.message || this.#lastLines.get(host) || "no output";
      const launcher = this.#choice.tool === "agents" ? "its agent's kad join" : this.#choice.tool;
      this.#fail(host, `${launcher} exited with status ${end.code}: ${said}`);
    }
  }

  #fail(host: string, why: string): void {
    if (this.#joined.has(host) || this.#failed.has(host)) return;
    this.#failed.set(host, why);
    this.#err.write(`kad: ${host} never joined: ${why}\n`);
    this.#check();
  }

  #check(): void {
    const joined = this.#hosts.filter((host) => this.#joined.has(host)).length;
    if (this.#hosts.length === 0 || joined + this.#failed.size < this.#hosts.length) return;
    if (joined > 0) this.#resolve();
    else this.onNoneJoined();
  }
}
