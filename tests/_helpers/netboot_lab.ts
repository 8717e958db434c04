/**
 * A private deploy network for the netboot end-to-end specs: a bridge with taps for QEMU machines,
 * optionally a network namespace on the bridge (another DHCP server), the processes started on
 * it, and their teardown. Every name starts with "kad".
 */

import { join } from "node:path";
import { assertEquals } from "./assert.ts";
import { KadProcess, type KadVariant } from "./kad_cli.ts";

/** Where the deploy kit caches Debian packages. */
export const PACKAGE_CACHE = "/var/cache/kad-netboot";

/** Runs a shell script; its stdout, or an error with its stderr. */
export async function sh(script: string): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-ec", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`${script}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** The bridge, its taps and namespaces, and the processes on them. */
export class NetbootLab implements AsyncDisposable {
  readonly #children: Deno.ChildProcess[] = [];
  readonly #links: string[];
  readonly #namespaces: string[] = [];

  private constructor(readonly bridge: string, readonly taps: string[]) {
    this.#links = [bridge, ...taps];
  }

  /** A bridge with `addresses` and one tap per name in `taps`. */
  static async open(bridge: string, addresses: string[], taps: string[]): Promise<NetbootLab> {
    const lab = new NetbootLab(bridge, taps);
    await lab.#removeLinks();
    await sh(`ip link add ${bridge} type bridge && ip link set ${bridge} up`);
    for (const address of addresses) await sh(`ip addr add ${address} dev ${bridge}`);
    for (const tap of taps) {
      await sh(
        `ip tuntap add dev ${tap} mode tap && ip link set ${tap} master ${bridge} && ip link set ${tap} up`,
      );
    }
    return lab;
  }

  /** A namespace linked to the bridge by the veth pair `veth` / `eth0`, its end with `address`. */
  async namespace(name: string, veth: string, address: string): Promise<string> {
    await sh(`ip netns del ${name} 2>/dev/null || true; ip link del ${veth} 2>/dev/null || true`);
    this.#namespaces.push(name);
    this.#links.push(veth);
    await sh(
      `ip netns add ${name} && ip link add ${veth} type veth peer name eth0 netns ${name} && ` +
        `ip link set ${veth} master ${this.bridge} && ip link set ${veth} up && ` +
        `ip -n ${name} addr add ${address} dev eth0 && ip -n ${name} link set eth0 up && ip -n ${name} link set lo up`,
    );
    return name;
  }

  /** Starts a process that runs until the lab closes (in `namespace` when given). */
  start(program: string, args: string[], namespace?: string): void {
    const argv = namespace ? ["ip", "netns", "exec", namespace, program, ...args] : [program, ...args];
    this.#children.push(
      new Deno.Command(argv[0], { args: argv.slice(1), stdin: "null", stdout: "null", stderr: "null" })
        .spawn(),
    );
  }

  /**
   * Runs a QEMU machine (TCG, 768 MB, serial console) on `disk` to its end, at most `timeoutS`
   * seconds; returns its console.
   */
  async runVm(disk: string, args: string[], timeoutS = 400): Promise<string> {
    const child = new Deno.Command("timeout", {
      args: [
        String(timeoutS),
        "qemu-system-x86_64",
        ...["-accel", "tcg", "-cpu", "max", "-m", "768", "-nographic", "-no-reboot"],
        ...["-drive", `file=${disk},if=virtio,format=raw`],
        ...args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#children.push(child);
    return new TextDecoder().decode((await child.output()).stdout);
  }

  /** Kills what it started, removes its links and namespaces. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    await this.#removeLinks();
    for (const ns of this.#namespaces) await sh(`ip netns del ${ns} 2>/dev/null || true`);
  }

  async #removeLinks(): Promise<void> {
    await sh(`for l in ${this.#links.join(" ")}; do ip link del $l 2>/dev/null || true; done`);
  }
}

/** `kad netboot initrd --out DIR`, checked. */
export async function buildDeployKit(variant: KadVariant, dir: string): Promise<string> {
  const boot = join(dir, "boot");
  const built = await new KadProcess(variant, ["netboot", "initrd", "--out", boot]).result();
  assertEquals(built.code, 0, built.stderr);
  return boot;
}

/** `kad netboot init TREE ARGS…`, checked; returns dnsmasq's configuration file. */
export async function netbootInit(variant: KadVariant, tree: string, args: string[]): Promise<string> {
  const init = await new KadProcess(variant, ["netboot", "init", tree, ...args]).result();
  assertEquals(init.code, 0, init.stderr);
  return join(tree, "dnsmasq.conf");
}

/** A sparse raw disk image of `mib` MiB. */
export function blankDisk(path: string, mib = 512): string {
  Deno.writeFileSync(path, new Uint8Array(0));
  Deno.truncateSync(path, mib * 1024 * 1024);
  return path;
}

/** A file of an ext4 partition starting at sector 2048 of `disk`, read with debugfs ("" when absent). */
export async function readFromDisk(disk: string, path: string): Promise<string> {
  const loop = (await sh(`losetup -f --show -o ${2048 * 512} ${disk}`)).trim();
  try {
    return await sh(`debugfs -R 'cat ${path}' ${loop} 2>/dev/null`);
  } finally {
    await sh(`losetup -d ${loop}`);
  }
}
