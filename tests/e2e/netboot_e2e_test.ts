/**
 * The whole Ka-deploy flow in virtual machines: `kad netboot initrd` and `kad netboot init` build
 * the kit, dnsmasq serves DHCP and TFTP on a private bridge, QEMU machines network-boot (BIOS and
 * UEFI), partition their disks, join a `kad serve` of a small bootable system as a VM → VM chain,
 * take their names from the nodes file, configure the new system (built-ins, a hook, extlinux)
 * and reboot; the server's report shows every phase. Then they boot from their own disks and say
 * so on their serial consoles. A second spec boots through proxy-DHCP, next to another DHCP server.
 *
 * Needs root, qemu-system-x86_64 (with ipxe-qemu), ipxe, ovmf and dnsmasq; skipped with the reason
 * otherwise. Run with `deno task test:e2e`.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadServer, kadVariants } from "../_helpers/kad_cli.ts";
import { hasTool as hasCommand } from "../../lib/process/host_tool.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { CLONE_BANNER, writeBootableSystem } from "../_helpers/bootable_system.ts";
import {
  blankDisk,
  buildDeployKit,
  netbootInit,
  NetbootLab,
  PACKAGE_CACHE,
  readFromDisk,
} from "../_helpers/netboot_lab.ts";

const variant = kadVariants().at(-1)!;
const BRIDGE = "kadbr-e2e";
const ADDRESS = "10.78.0.1";
/** A unique local IPv6 address: dnsmasq builds its router adverts' prefix from it (--ipv6-ra). */
const ADDRESS6 = "fd4b:6164:78::1";
/** UEFI firmware for QEMU (Debian's ovmf). */
const OVMF = "/usr/share/ovmf/OVMF.fd";
const LAYOUT = "label: dos\nunit: sectors\n\nstart=2048, type=83, bootable\n";
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

/** Network boot; a BIOS that finds nothing to boot reboots after 1 s, which ends QEMU (-no-reboot). */
const NETWORK_BOOT = ["-boot", "order=n,reboot-timeout=1000"];

/** The end of a console, where a failure shows. */
function consoleTail(console: string): string {
  return console.slice(-3000);
}

/** A spec with VMs: skipped with the reason when the host cannot run them; `fn` gets a work directory. */
function vmTest(name: string, fn: (work: string) => Promise<void>): void {
  Deno.test({
    name,
    ignore: reason !== null,
    // QEMU and dnsmasq run until the lab closes
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      await using dir = await tempDir("kad-e2e-");
      await fn(dir.path);
    },
  });
}

/** QEMU arguments of a VM's network card on its tap. */
function nic(vm: { tap: string; mac: string; nic: string }): string[] {
  return [
    ...["-netdev", `tap,id=n0,ifname=${vm.tap},script=no,downscript=no`],
    ...["-device", `virtio-net-pci,netdev=n0,mac=${vm.mac}${vm.nic}`],
  ];
}

/** A kad server of `source` on the bridge, with the timeouts a user gets. */
function serve(source: string, nodes: number): KadServer {
  return new KadServer(variant, [source, "--clients", String(nodes), "--order", "name"], {
    listenHost: ADDRESS,
  });
}

vmTest(
  "netboot e2e: a BIOS and a UEFI VM PXE-boot, partition, join a VM → VM chain, configure, reboot, and boot their clones from disk",
  async (work) => {
    await using lab = await NetbootLab.open(
      BRIDGE,
      [`${ADDRESS}/24`, `${ADDRESS6}/64`],
      VMS.map((v) => v.tap),
    );
    const boot = await buildDeployKit(variant, work);
    const source = join(work, "source");
    await Deno.mkdir(source);
    await writeBootableSystem(source, PACKAGE_CACHE);
    const hooks = join(work, "hooks");
    await Deno.mkdir(hooks);
    await Deno.writeTextFile(
      join(hooks, "10-mark"),
      'echo "$KAD_NODE $KAD_POSITION/$KAD_COUNT $KAD_MAC" > /etc/kad-hook\n',
    );
    await Deno.writeTextFile(join(work, "layout.sfdisk"), LAYOUT);
    await Deno.writeTextFile(
      join(work, "nodes.conf"),
      VMS.map((v) => `${v.mac} ${v.name} ${v.address}`.trimEnd()).join("\n") + "\n",
    );
    const server = serve(source, 2);
    const port = await server.port;
    const conf = await netbootInit(variant, join(work, "tree"), [
      ...["--boot", boot, "--interface", BRIDGE, "--dhcp-range", "10.78.0.100,10.78.0.150"],
      ...["--server", `${ADDRESS}:${port}`, "--layout", join(work, "layout.sfdisk")],
      ...["--nodes", join(work, "nodes.conf"), "--hooks", hooks, "--bootloader", "extlinux"],
      ...["--ipv6-ra", "--done", "reboot"],
    ]);
    const dnsmasqLog = join(work, "dnsmasq.log");
    lab.start("dnsmasq", ["--no-daemon", `--conf-file=${conf}`, `--log-facility=${dnsmasqLog}`]);
    const disks = VMS.map((_, i) => blankDisk(join(work, `disk${i}.img`)));
    // install: network boot; -no-reboot makes the reboot at the end of the install exit QEMU
    const installs = await Promise.all(
      VMS.map((vm, i) => lab.runVm(disks[i], [...vm.firmware, ...NETWORK_BOOT, ...nic(vm)])),
    );
    const served = await server.result(120_000);
    assertEquals(served.code, 0, [served.stderr, ...installs.map(consoleTail)].join("\n"));
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
    const dnsmasqSaid = await Deno.readTextFile(dnsmasqLog);
    assertMatch(dnsmasqSaid, /sent \S+\/ipxe\.efi to 10\.78\.0\.\d+/, "vm-two's UEFI PXE fetched ipxe.efi");
    assertMatch(installs[1], /EFI stub: /, "vm-two booted the deploy kernel through UEFI");
    // then each boots from its own disk (BIOS: the clone has extlinux), no network card at all
    const boots = await Promise.all(disks.map((disk) => lab.runVm(disk, ["-boot", "c", "-nic", "none"])));
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
        new RegExp(`${CLONE_BANNER} hook said ${vm.name} ${i + 1}/2 ${vm.mac}`),
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
  },
);

vmTest(
  "netboot e2e: proxy-DHCP — another server leases the address, kad's dnsmasq adds the boot information; the node installs grub and boots its clone",
  async (work) => {
    const vm = VMS[0];
    await using lab = await NetbootLab.open(BRIDGE, [`${ADDRESS}/24`], [vm.tap]);
    // the site's own DHCP server, in a namespace on the same network: addresses, no boot information
    const site = await lab.namespace("kadns-e2e-dhcp", "kadveth-e2e", "10.78.0.2/24");
    const siteLog = join(work, "site-dhcp.log");
    lab.start("dnsmasq", [
      "--no-daemon",
      "--conf-file=/dev/null",
      "--port=0",
      "--interface=eth0",
      "--bind-interfaces",
      "--dhcp-range=10.78.0.50,10.78.0.60,1h",
      "--log-dhcp",
      `--log-facility=${siteLog}`,
      `--dhcp-leasefile=${join(work, "site.leases")}`,
    ], site);
    const boot = await buildDeployKit(variant, work);
    const source = join(work, "source");
    await Deno.mkdir(source);
    await writeBootableSystem(source, PACKAGE_CACHE, "grub");
    await Deno.writeTextFile(join(work, "layout.sfdisk"), LAYOUT);
    await Deno.writeTextFile(join(work, "nodes.conf"), `${vm.mac} ${vm.name}\n`);
    const server = serve(source, 1);
    const port = await server.port;
    const conf = await netbootInit(variant, join(work, "tree"), [
      ...["--boot", boot, "--interface", BRIDGE, "--proxy-dhcp", "10.78.0.0"],
      ...["--server", `${ADDRESS}:${port}`, "--layout", join(work, "layout.sfdisk")],
      ...["--nodes", join(work, "nodes.conf"), "--bootloader", "grub", "--done", "reboot"],
    ]);
    const proxyLog = join(work, "dnsmasq.log");
    lab.start("dnsmasq", ["--no-daemon", `--conf-file=${conf}`, `--log-facility=${proxyLog}`]);
    const disk = blankDisk(join(work, "disk.img"));
    const install = await lab.runVm(disk, [...NETWORK_BOOT, ...nic(vm)], 200);
    const served = await server.result(120_000);
    assertEquals(served.code, 0, `${served.stderr}\n${consoleTail(install)}`);
    assertEquals(served.report!.nodes.map((n) => n.phases.at(-1)?.phase), ["post-install"]);
    assertMatch(install, /kad-phase: rebooting/, consoleTail(install));
    assertMatch(install, /network up: \S+ \S+ 10\.78\.0\.5\d /, "the lease came from the site's server");
    assertMatch(await Deno.readTextFile(siteLog), /DHCPACK\(eth0\) 10\.78\.0\.5\d/);
    assertMatch(await Deno.readTextFile(proxyLog), /proxy/i);
    // grub-install and update-grub ran in the clone: it boots from its disk, its root named by UUID
    const uuid = /^UUID=([0-9a-f-]{36}) /m.exec(await readFromDisk(disk, "/etc/fstab"))?.[1];
    assert(uuid);
    const booted = await lab.runVm(disk, ["-boot", "c", "-nic", "none"], 200);
    assertMatch(
      booted,
      new RegExp(`${CLONE_BANNER} ${vm.name} booted from disk: root /dev/vda1, root=UUID=${uuid}`),
      consoleTail(booted),
    );
    assertMatch(await readFromDisk(disk, "/boot/grub/grub.cfg"), new RegExp(`root=UUID=${uuid}`));
  },
);
