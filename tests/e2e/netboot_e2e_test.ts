/**
 * The whole Ka-deploy flow in virtual machines: `kad netboot initrd` and `kad netboot init` build
 * the kit, dnsmasq serves DHCP and TFTP on a private bridge, two QEMU machines PXE-boot through
 * iPXE, partition their disks, join a `kad serve` of a small bootable system as a VM → VM chain,
 * take their names from the nodes file, configure the new system (built-ins, a hook, extlinux)
 * and reboot; the server's report shows every phase. Then both boot from their own disks and say
 * so on their serial consoles, and their disks are read back.
 *
 * Needs root, qemu-system-x86_64 (with ipxe-qemu) and dnsmasq; skipped with the reason otherwise.
 * Run with `deno task test:e2e`.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants } from "../_helpers/kad_cli.ts";
import { hasCommand } from "../_helpers/host_tools.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { CLONE_BANNER, writeBootableSystem } from "../_helpers/bootable_system.ts";

const variant = kadVariants().at(-1)!;
const PACKAGE_CACHE = "/var/cache/kad-netboot";
const BRIDGE = "kadbr-e2e";
const ADDRESS = "10.78.0.1";
/** A unique local IPv6 address: dnsmasq builds its router adverts' prefix from it (--ipv6-ra). */
const ADDRESS6 = "fd4b:6164:78::1";
/** UEFI firmware for QEMU (Debian's ovmf). */
const OVMF = "/usr/share/ovmf/OVMF.fd";
/**
 * vm-one network-boots with a BIOS (SeaBIOS and the NIC's iPXE ROM); vm-two with UEFI and no NIC ROM,
 * as most hardware: the firmware's own PXE fetches ipxe.efi, which fetches boot.ipxe.
 */
const VMS = [
  {
    name: "vm-one",
    mac: "52:54:00:78:00:01",
    tap: "kadtap-e2e1",
    address: "10.78.0.11/24 10.78.0.1",
    firmware: [] as string[],
    nic: "",
  },
  {
    name: "vm-two",
    mac: "52:54:00:78:00:02",
    tap: "kadtap-e2e2",
    address: "",
    firmware: ["-bios", OVMF],
    nic: ",romfile=",
  },
];

function missing(): string | null {
  if (Deno.uid() !== 0) return "not root";
  for (const tool of ["qemu-system-x86_64", "dnsmasq", "debugfs", "apt-get", "dpkg-deb"]) {
    if (!hasCommand(tool)) return `${tool} is not installed`;
  }
  for (const file of [OVMF, "/usr/lib/ipxe/ipxe.efi"]) {
    try {
      Deno.statSync(file);
    } catch {
      return `${file} is missing`;
    }
  }
  return null;
}

const reason = missing();
if (reason) {
  console.warn(
    `netboot e2e skipped: ${reason} (needs root and apt-get install qemu-system-x86 ipxe-qemu ipxe ovmf dnsmasq-base)`,
  );
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

/** The end of a console, where a failure shows. */
function consoleTail(console: string): string {
  return console.slice(-3000);
}

/** Runs a QEMU machine (TCG, 768 MB, serial console) on `disk` to its end; returns its console. */
async function runVm(children: Deno.ChildProcess[], disk: string, args: string[]): Promise<string> {
  const child = new Deno.Command("timeout", {
    args: [
      "400",
      "qemu-system-x86_64",
      ...["-accel", "tcg", "-cpu", "max", "-m", "768", "-nographic", "-no-reboot"],
      ...["-drive", `file=${disk},if=virtio,format=raw`],
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.push(child);
  return new TextDecoder().decode((await child.output()).stdout);
}

Deno.test({
  name:
    "netboot e2e: a BIOS and a UEFI VM PXE-boot, partition, join a VM → VM chain, configure, reboot, and boot their clones from disk",
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
        `ip link add ${BRIDGE} type bridge && ip addr add ${ADDRESS}/24 dev ${BRIDGE} && ` +
          `ip addr add ${ADDRESS6}/64 dev ${BRIDGE} && ip link set ${BRIDGE} up`,
      );
      for (const vm of VMS) {
        await sh(
          `ip tuntap add dev ${vm.tap} mode tap && ip link set ${vm.tap} master ${BRIDGE} && ip link set ${vm.tap} up`,
        );
      }
      const boot = join(work, "boot");
      const built = await new KadProcess(variant, ["netboot", "initrd", "--out", boot]).result();
      assertEquals(built.code, 0, built.stderr);
      const source = join(work, "source");
      await Deno.mkdir(source);
      await writeBootableSystem(source, PACKAGE_CACHE);
      const hooks = join(work, "hooks");
      await Deno.mkdir(hooks);
      await Deno.writeTextFile(
        join(hooks, "10-mark"),
        'echo "$KAD_NODE $KAD_POSITION/$KAD_COUNT $KAD_MAC" > /etc/kad-hook\n',
      );
      await Deno.writeTextFile(
        join(work, "layout.sfdisk"),
        "label: dos\nunit: sectors\n\nstart=2048, type=83, bootable\n",
      );
      await Deno.writeTextFile(
        join(work, "nodes.conf"),
        VMS.map((v) => `${v.mac} ${v.name} ${v.address}`.trimEnd()).join("\n") + "\n",
      );
      // TCG emulation on a 2-core host is slow: a node may be silent for seconds when its stream starts
      const server = new KadServer(
        variant,
        [source, "--clients", "2", "--timeout", "120", "--stall-timeout", "20", "--order", "name"],
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
        "--hooks",
        hooks,
        "--bootloader",
        "extlinux",
        "--ipv6-ra",
        "--done",
        "reboot",
      ]).result();
      assertEquals(init.code, 0, init.stderr);
      const dnsmasqLog = join(work, "dnsmasq.log");
      children.push(
        new Deno.Command("dnsmasq", {
          args: ["--no-daemon", `--conf-file=${join(tree, "dnsmasq.conf")}`, `--log-facility=${dnsmasqLog}`],
          stdout: "null",
          stderr: "null",
        }).spawn(),
      );
      const disks = VMS.map((_, i) => join(work, `disk${i}.img`));
      for (const disk of disks) {
        Deno.writeFileSync(disk, new Uint8Array(0));
        Deno.truncateSync(disk, 512 * 1024 * 1024);
      }
      // install: network boot; -no-reboot makes the reboot at the end of the install exit QEMU
      const installs = await Promise.all(VMS.map((vm, i) =>
        runVm(children, disks[i], [
          ...vm.firmware,
          ...["-boot", "n"],
          ...["-netdev", `tap,id=n0,ifname=${vm.tap},script=no,downscript=no`],
          ...["-device", `virtio-net-pci,netdev=n0,mac=${vm.mac}${vm.nic}`],
        ])
      ));
      const served = await server.result(120_000);
      assertEquals(served.code, 0, served.stderr);
      const report = served.report!;
      assertEquals(report.nodes.map((n) => [n.name, n.status]), [["vm-one", "ok"], ["vm-two", "ok"]]);
      for (const node of report.nodes) {
        assertEquals(node.phases.map((p) => p.phase), [
          "booted",
          "partitioned",
          "joined",
          "received",
          "configured",
          "rebooting",
          "post-install",
        ], node.name);
      }
      for (const [i, vm] of VMS.entries()) {
        for (const phase of ["booted", "partitioned", "configured", "rebooting"]) {
          assertMatch(
            installs[i],
            new RegExp(`kad-phase: ${phase}`),
            `${vm.name} ${phase}:\n${consoleTail(installs[i])}`,
          );
        }
        assert(
          installs[i].includes("reboot: Restarting system"),
          `${vm.name} rebooted:\n${consoleTail(installs[i])}`,
        );
      }
      const served_files = await Deno.readTextFile(dnsmasqLog);
      assertMatch(
        served_files,
        /sent \S+\/ipxe\.efi to 10\.78\.0\.\d+/,
        "vm-two's UEFI PXE fetched ipxe.efi",
      );
      assertMatch(served_files, /sent \S+\/undionly\.kpxe|sent \S+\/boot\.ipxe/, "TFTP log");
      assertMatch(installs[1], /EFI stub: /, "vm-two booted the deploy kernel through UEFI");
      // then each boots from its own disk (BIOS: the clone has extlinux), no network card at all
      const boots = await Promise.all(
        disks.map((disk) => runVm(children, disk, ["-boot", "c", "-nic", "none"])),
      );
      for (const [i, vm] of VMS.entries()) {
        const fstab = await readFromDisk(disks[i], "/etc/fstab");
        const uuid = /^UUID=([0-9a-f-]{36}) \/ ext4 defaults 0 1$/m.exec(fstab)?.[1];
        assert(uuid, fstab);
        assertMatch(
          boots[i],
          new RegExp(`${CLONE_BANNER} ${vm.name} booted from disk: root /dev/vda1, root=UUID=${uuid}`),
          `${vm.name} booted its clone:\n${consoleTail(boots[i])}`,
        );
        assertMatch(
          boots[i],
          new RegExp(`${CLONE_BANNER} hook said ${vm.name} ${i}/2 ${vm.mac}`),
          consoleTail(boots[i]),
        );
        assertEquals((await readFromDisk(disks[i], "/etc/hostname")).trim(), vm.name);
        assertEquals(await readFromDisk(disks[i], "/etc/motd"), "cloned by kad\n");
        const network = await readFromDisk(disks[i], "/etc/systemd/network/10-kad.network");
        if (vm.address) {
          assertEquals(
            network,
            `[Match]\nMACAddress=${vm.mac}\n\n[Network]\nAddress=10.78.0.11/24\nGateway=10.78.0.1\n`,
          );
        } else assertEquals(network, "", "no address in the nodes file: no network file");
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
