/**
 * Starts `kad join` on a list of hosts with the tools cluster admins already use: OpenSSH (one `ssh`
 * per host), pdsh or ClusterShell (`clush`), each addressing the hosts by name. Every node is named
 * as the launcher addressed it (`--name HOST`), so the server can tell which hosts never joined. The
 * join token never appears in an argument list or a file others can read: `ssh` and `clush` hand it
 * to `kad join --token-file /dev/stdin` on the hosts' standard input; pdsh, which gives remote
 * commands no standard input, copies it first with `pdcp -p` from a file only this user can read
 * into one only root can read on each host, which the remote shell gives the node as its standard
 * input and removes once the node is through.
 *
 * @module
 */

import { lines } from "../text/lines.ts";

/** The launch tools. */
export const LAUNCH_TOOLS = ["ssh", "pdsh", "clush"] as const;
/** A launch tool. */
export type LaunchTool = typeof LAUNCH_TOOLS[number];

/** What to start where. */
export interface LaunchOptions {
  /** The tool. */
  tool: LaunchTool;
  /** The hosts, as the tool addresses them. */
  hosts: readonly string[];
  /** `kad join` and its arguments on the hosts (the server, the sink), without a name or a token. */
  joinArgv: readonly string[];
  /** The join token, handed over on standard input; null for `--insecure`. */
  token: string | null;
  /** `-o OPTION` for ssh (and for the ssh under pdsh and clush), e.g. `IdentityFile=/root/.ssh/kad`. */
  sshOptions: readonly string[];
  /** A line a host's launcher printed (its node's output), for the operator. */
  onLine?: (host: string, line: string) => void;
}

/** A host whose launcher ended: its exit status and the last of what it said. */
export interface LaunchEnd {
  /** The host ("" when one launcher serves every host and it failed as a whole). */
  host: string;
  /** The launcher's exit code. */
  code: number;
  /** The last lines of its standard error. */
  message: string;
}

/** Lines of a launcher's stderr kept for its failure. */
const LAST_LINES = 3;
/** Where pdsh's copy of the token goes on each host (mode 0600, removed by the node). */
const PDSH_TOKEN_PATH = "/run/kad-join-token";

/** The launchers of one deployment. */
export class Launch {
  readonly #children: Deno.ChildProcess[] = [];
  /** Resolves with every launcher's end once all have ended. */
  readonly ended: Promise<LaunchEnd[]>;

  private constructor(ended: (launch: Launch) => Promise<LaunchEnd[]>) {
    this.ended = ended(this);
  }

  /** Starts the launchers; `onEnd` hears of each as it ends. */
  static start(options: LaunchOptions, onEnd: (end: LaunchEnd) => void): Launch {
    return new Launch(async (launch) => {
      if (options.tool === "ssh") {
        return await Promise.all(
          options.hosts.map((host) => launch.#run(options, host, sshArgv(options, host), onEnd)),
        );
      }
      if (options.tool === "pdsh" && options.token !== null) {
        const local = await Deno.makeTempFile({ prefix: "kad-token-" }); // mode 0600
        try {
          await Deno.writeTextFile(local, `${options.token}\n`);
          const copied = await launch.#run(
            { ...options, onLine: undefined },
            "",
            pdcpArgv(options, local),
            () => {},
          );
          if (copied.code !== 0) {
            const end = { ...copied, message: `pdcp could not copy the token: ${copied.message}` };
            onEnd(end);
            return [end];
          }
        } finally {
          await Deno.remove(local).catch(() => {});
        }
      }
      const argv = options.tool === "pdsh" ? pdshArgv(options) : clushArgv(options);
      return [await launch.#run(options, "", argv, onEnd)];
    });
  }

  /** Stops every launcher still running (the deployment ended, or the operator stopped it). */
  stop(): void {
    for (const child of this.#children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // ended
      }
    }
  }

  async #run(options: LaunchOptions, host: string, argv: string[], onEnd: (end: LaunchEnd) => void) {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(argv[0], {
        args: argv.slice(1),
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      const end = { host, code: 127, message: `cannot run ${argv[0]}: ${error}` };
      onEnd(end);
      return end;
    }
    this.#children.push(child);
    const writer = child.stdin.getWriter();
    // ssh and clush hand it to `--token-file /dev/stdin`; then end of input
    const token = options.tool !== "pdsh" && options.token !== null ? `${options.token}\n` : "";
    await writer.write(new TextEncoder().encode(token)).catch(() => {});
    await writer.close().catch(() => {});
    const last: string[] = []; // the launcher's (or the node's) last words on stderr
    const echo = async (stream: ReadableStream<Uint8Array>, keep: boolean) => {
      for await (const line of lines(stream)) {
        if (keep && line.trim() !== "" && last.push(line.trim()) > LAST_LINES) last.shift();
        options.onLine?.(host, line);
      }
    };
    await Promise.all([echo(child.stdout, false), echo(child.stderr, true), child.status]);
    const end = { host, code: (await child.status).code, message: last.join("; ") };
    onEnd(end);
    return end;
  }
}

/** A word for a POSIX shell: quoted unless plainly safe. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The remote command for one host (`name`: the host, or the tool's placeholder for it). */
function remoteCommand(options: LaunchOptions, name: string, tokenFile: string | null): string {
  const token = options.token === null ? [] : ["--token-file", "/dev/stdin"];
  const join = [...options.joinArgv.map(shellQuote), "--name", name, ...token.map(shellQuote)].join(" ");
  // pdsh's copy of the token: the node's input, removed once the node is through
  return tokenFile === null ? join : `${join} < ${tokenFile}; s=$?; rm -f ${tokenFile}; exit $s`;
}

function sshFlags(options: LaunchOptions): string[] {
  return ["-o", "BatchMode=yes", ...options.sshOptions.flatMap((o) => ["-o", o])];
}

function sshArgv(options: LaunchOptions, host: string): string[] {
  return ["ssh", ...sshFlags(options), host, "--", remoteCommand(options, shellQuote(host), null)];
}

/** pdsh runs ssh with the options of `PDSH_SSH_ARGS_APPEND`; pdcp the same. */
function pdshEnvArgs(options: LaunchOptions): string[] {
  return ["env", `PDSH_SSH_ARGS_APPEND=${sshFlags(options).join(" ")}`];
}

function pdcpArgv(options: LaunchOptions, local: string): string[] {
  return [
    ...pdshEnvArgs(options),
    "pdcp",
    "-p",
    "-R",
    "ssh",
    "-w",
    options.hosts.join(","),
    local,
    PDSH_TOKEN_PATH,
  ];
}

function pdshArgv(options: LaunchOptions): string[] {
  const tokenFile = options.token === null ? null : PDSH_TOKEN_PATH;
  return [
    ...pdshEnvArgs(options),
    "pdsh",
    "-R",
    "ssh",
    "-w",
    options.hosts.join(","),
    remoteCommand(options, "%h", tokenFile),
  ];
}

/**
 * clush's exec worker runs our ssh for each host (`%h` is the host there), through a local shell:
 * the remote command is quoted once more for it.
 */
function clushArgv(options: LaunchOptions): string[] {
  const ssh = ["ssh", ...sshFlags(options).map(shellQuote), "%h", "--"];
  return [
    "clush",
    "-R",
    "exec",
    "-w",
    options.hosts.join(","),
    ...ssh,
    shellQuote(remoteCommand(options, "%h", null)),
  ];
}
