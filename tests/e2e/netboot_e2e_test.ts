/**
 * The whole Ka-deploy flow in virtual machines: `kad netboot initrd` and `kad netboot init` build
 * the kit, dnsmasq serves DHCP and TFTP on a private bridge, two QEMU machines PXE-boot through
 * iPXE, partition their disks, join a `kad serve` as a VM → VM chain, take their names from the
 * nodes file, configure the new system and power off; then their disks are read back.
 *
 * Needs root, qemu-system-x86_64 (with ipxe-qemu) and dnsmasq; skipped with the reason otherwise.
 * Run with `deno task test:e2e`.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants } from "../_helpers/kad_cli.ts";
import { hasCommand } from "../_helpers/host_tools.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const variant = kadVariants().at(-1)!;
const BRIDGE = "kadbr-e2e";
const ADDRESS = "10.78.0.1";
const VMS = [
  { name: "vm-one", mac: "52:54:00:78:00:01", tap: "kadtap-e2e1" },
  { name: "vm-two", mac: "52:54:00:78:00:02", tap: "kadtap-e2e2" },
];

function missing(): string | null {
  if (Deno.uid() !== 0) return "not root";
  for (const tool of ["qemu-system-x86_64", "dnsmasq", "debugfs", "apt-get", "dpkg-deb"]) {
    if (!hasCommand(tool)) return `${tool} is not installed`;
  }
  return null;
}

const reason = missing();
if (reason) {
  console.warn(`netboot e2e skipped: ${reason} (needs root, qemu-system-x86, ipxe-qemu, dnsmasq-base)`);
}

async function sh(script: string): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-ec", script],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!success) throw new Error(`${script}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

async function teardown(): Promise<void> {
  await sh(
    `for l in ${BRIDGE} ${VMS.map((v) => v.tap).join(" ")}; do ip link del $l 2>/dev/null || true; done`,
  );
}

/** A file of an ext4 partition starting at sector 2048 of `disk`, read with debugfs. */
async function readFromDisk(disk: string, path: string): Promise<string> {
  const loop = (await sh(`losetup -f --show -o ${2048 * 512} ${disk}`)).trim();
  try {
    return await sh(`debugfs -R 'cat ${path}' ${loop} 2>/dev/null`);
  } finally {
    await sh(`losetup -d ${loop}`);
  }
}

Deno.test({
  name: "netboot e2e: two VMs PXE-boot, partition, join a VM → VM chain, get their own names and power off",
  ignore: reason !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using dir = await tempDir("kad-e2e-");
    const work = dir.path;
    await teardown();
    const children: Deno.ChildProcess[] = [];
    try {
      await sh(
        `ip link add ${BRIDGE} type bridge && ip addr add ${ADDRESS}/24 dev ${BRIDGE} && ip link set ${BRIDGE} up`,
      );
      for (const vm of VMS) {
        await sh(
          `ip tuntap add dev ${vm.tap} mode tap && ip link set ${vm.tap} master ${BRIDGE} && ip link set ${vm.tap} up`,
        );
      }
      const boot = join(work, "boot");
      const built = await new KadProcess(variant, ["netboot", "initrd", "--out", boot]).result();
      assertEquals(built.code, 0, built.stderr);
      // the system to clone: a file and the busybox the kit brought
      const source = join(work, "source");
      await Deno.mkdir(join(source, "etc"), { recursive: true });
      await Deno.writeTextFile(join(source, "etc", "motd"), "cloned by kad\n");
      await Deno.writeTextFile(
        join(work, "layout.sfdisk"),
        "label: dos\nunit: sectors\n\nstart=2048, type=83, bootable\n",
      );
      await Deno.writeTextFile(
        join(work, "nodes.conf"),
        VMS.map((v) => `${v.mac} ${v.name}`).join("\n") + "\n",
      );
      const server = new KadServer(
        variant,
        [source, "--clients", "2", "--timeout", "120", "--order", "name"],
        {
          listenHost: ADDRESS,
        },
      );
      const port = await server.port;
      const tree = join(work, "tree");
      const init = await new KadProcess(variant, [
        "netboot",
        "init",
        tree,
        "--boot",
        boot,
        "--interface",
        BRIDGE,
        "--dhcp-range",
        "10.78.0.100,10.78.0.150",
        "--server",
        `${ADDRESS}:${port}`,
        "--layout",
        join(work, "layout.sfdisk"),
        "--nodes",
        join(work, "nodes.conf"),
        "--done",
        "poweroff",
      ]).result();
      assertEquals(init.code, 0, init.stderr);
      children.push(
        new Deno.Command("dnsmasq", {
          args: ["--no-daemon", `--conf-file=${join(tree, "dnsmasq.conf")}`],
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
      const vms = VMS.map((vm, i) => {
        const disk = join(work, `disk${i}.img`);
        Deno.writeFileSync(disk, new Uint8Array(0));
        Deno.truncateSync(disk, 512 * 1024 * 1024);
        const child = new Deno.Command("timeout", {
          args: [
            "400",
            "qemu-system-x86_64",
            ...["-accel", "tcg", "-cpu", "max", "-m", "768", "-nographic", "-no-reboot", "-boot", "n"],
            ...["-drive", `file=${disk},if=virtio,format=raw`],
            ...["-netdev", `tap,id=n0,ifname=${vm.tap},script=no,downscript=no`],
            ...["-device", `virtio-net-pci,netdev=n0,mac=${vm.mac}`],
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        children.push(child);
        return { ...vm, disk, output: child.output() };
      });
      const consoles = await Promise.all(
        vms.map(async (vm) => new TextDecoder().decode((await vm.output).stdout)),
      );
      const served = await server.result(120_000);
      assertEquals(served.code, 0, served.stderr);
      assertEquals(served.report!.nodes.map((n) => [n.name, n.status]), [["vm-one", "ok"], ["vm-two", "ok"]]);
      for (const [i, vm] of vms.entries()) {
        for (const phase of ["booted", "partitioned", "received", "configured", "done"]) {
          assertMatch(consoles[i], new RegExp(`kad-phase: ${phase}`), `${vm.name} ${phase}`);
        }
        assert(consoles[i].includes("reboot: Power down"), `${vm.name} powered off`);
        assertEquals((await readFromDisk(vm.disk, "/etc/hostname")).trim(), vm.name);
        assertEquals(await readFromDisk(vm.disk, "/etc/motd"), "cloned by kad\n");
        assertMatch(await readFromDisk(vm.disk, "/etc/fstab"), /^UUID=[0-9a-f-]{36} \/ ext4 defaults 0 1$/m);
      }
    } finally {
      for (const child of children) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await teardown();
    }
  },
});
