/**
 * Real SSH servers for launch specs: an sshd in each chosen netlab namespace, listening on that
 * host's address only, with host keys and an authorized client key made for the run. The `kad`
 * the hosts run is a script calling the kad under test (the namespaces share this machine's files).
 */

import { join } from "node:path";
import type { Netlab, NetlabHost } from "../../lib/netlab/netlab.ts";
import { hasTool } from "../../lib/process/host_tool.ts";
import type { KadVariant } from "./kad_cli.ts";

const SSHD = "/usr/sbin/sshd";

/** True when sshd, ssh and ssh-keygen are installed. */
export function sshAvailable(): boolean {
  return [SSHD, "ssh", "ssh-keygen"].every(hasTool);
}

async function run(argv: string[]): Promise<void> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
}

/** An sshd on each of some hosts, and how to reach them. */
export class SshLab implements AsyncDisposable {
  readonly #daemons: Deno.ChildProcess[];
  /** `-o` options that reach the hosts with the run's key. */
  readonly sshOptions: string[];
  /** The kad command on the hosts. */
  readonly remoteKad: string;

  private constructor(daemons: Deno.ChildProcess[], sshOptions: string[], remoteKad: string) {
    this.#daemons = daemons;
    this.sshOptions = sshOptions;
    this.remoteKad = remoteKad;
  }

  /** Starts sshd on `hosts`; keys and configuration go under `dir`. */
  static async start(lab: Netlab, hosts: NetlabHost[], dir: string, kad: KadVariant): Promise<SshLab> {
    await Deno.mkdir("/run/sshd", { recursive: true }); // sshd's privilege separation directory
    const file = (name: string) => join(dir, name);
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file("host_key")]);
    await run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file("client_key")]);
    await Deno.copyFile(file("client_key.pub"), file("authorized_keys"));
    const remoteKad = file("kad");
    const quoted = kad.argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
    await Deno.writeTextFile(remoteKad, `#!/bin/sh\nexec ${quoted} "$@"\n`, { mode: 0o755 });
    const daemons: Deno.ChildProcess[] = [];
    for (const host of hosts) {
      const config = file(`sshd-${host.index}.conf`);
      await Deno.writeTextFile(
        config,
        [
          `ListenAddress ${host.address}`,
          `HostKey ${file("host_key")}`,
          `AuthorizedKeysFile ${file("authorized_keys")}`,
          "PermitRootLogin prohibit-password",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          "StrictModes no",
          "UsePAM no",
          `PidFile ${file(`sshd-${host.index}.pid`)}`,
          "",
        ].join("\n"),
      );
      const argv = lab.exec(host, [SSHD, "-D", "-e", "-f", config]);
      daemons.push(
        new Deno.Command(argv[0], { args: argv.slice(1), stdout: "null", stderr: "null" }).spawn(),
      );
    }
    const ssh = new SshLab(daemons, [
      `IdentityFile=${file("client_key")}`,
      "StrictHostKeyChecking=no",
      "UserKnownHostsFile=/dev/null",
      "LogLevel=ERROR",
      "ConnectTimeout=5",
    ], remoteKad);
    await ssh.#waitListening(lab, hosts);
    return ssh;
  }

  /** Waits until every sshd accepts connections. */
  async #waitListening(lab: Netlab, hosts: NetlabHost[]): Promise<void> {
    for (const host of hosts) {
      for (let i = 0;; i++) {
        const argv = lab.exec(host, ["ss", "-Hltn", `sport = :22`]);
        const out = await new Deno.Command(argv[0], { args: argv.slice(1), stdout: "piped" }).output();
        if (new TextDecoder().decode(out.stdout).trim() !== "") break;
        if (i > 200) throw new Error(`sshd on ${host.address} never listened`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /** Stops every sshd. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const daemon of this.#daemons) {
      try {
        daemon.kill("SIGTERM");
      } catch {
        // ended
      }
      await daemon.status;
    }
  }
}
