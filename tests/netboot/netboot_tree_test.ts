import { join } from "node:path";
import { ConfigError } from "../../lib/errors.ts";
import {
  INIT_PARAMETERS,
  INIT_SCRIPT,
  NODE_FILES_FUNCTIONS,
  POST_INSTALL_SCRIPT,
  UDHCPC_SCRIPT,
} from "../../netboot/init_script.ts";
import { parsePhaseLine } from "../../lib/node/post_install.ts";
import { dnsmasqConfig, kernelCommandLine, writeNetbootTree } from "../../netboot/netboot_tree.ts";
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "../_helpers/assert.ts";
import { hasTool as hasCommand } from "../../lib/process/host_tool.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const hasDnsmasq = hasCommand("dnsmasq");
if (!hasDnsmasq) console.warn("netboot tree: the dnsmasq --test spec is skipped: dnsmasq is not installed");

async function tree(
  dir: string,
  dhcp: Parameters<typeof writeNetbootTree>[0]["dhcp"],
  routerAdverts = false,
) {
  for (const name of ["vmlinuz", "initrd.img", "layout"]) await Deno.writeTextFile(join(dir, name), name);
  return await writeNetbootTree({
    dir: join(dir, "tree"),
    interface: "kadbr-test",
    dhcp,
    kernel: join(dir, "vmlinuz"),
    initrd: join(dir, "initrd.img"),
    layout: { file: join(dir, "layout") },
    params: { server: "10.0.0.1:9997", token: "t0123456789abcdef", disk: "" },
    routerAdverts,
  });
}

Deno.test("netboot tree: iPXE script, PXELINUX config and TFTP files carry the kad.* command line", async () => {
  await using dir = await tempDir();
  const written = await tree(dir.path, { kind: "range", start: "10.0.0.100", end: "10.0.0.200" });
  const tftp = join(dir.path, "tree", "tftp");
  assertEquals(
    written.cmdline,
    "console=tty0 console=ttyS0,115200 panic=-1 kad.server=10.0.0.1:9997 kad.token=t0123456789abcdef kad.layout=layout.sfdisk",
  );
  assertMatch(
    await Deno.readTextFile(join(tftp, "boot.ipxe")),
    /^#!ipxe\n[^]*kernel vmlinuz initrd=initrd\.img console=/,
  );
  assertMatch(
    await Deno.readTextFile(join(tftp, "pxelinux.cfg", "default")),
    /APPEND console=tty0 .* kad\.layout=layout\.sfdisk/,
  );
  assertEquals(await Deno.readTextFile(join(tftp, "layout.sfdisk")), "layout");
  const conf = await Deno.readTextFile(written.dnsmasqConf);
  assertMatch(conf, /^interface=kadbr-test$/m);
  assertMatch(conf, /^bind-interfaces$/m);
  assertMatch(conf, /^dhcp-range=10\.0\.0\.100,10\.0\.0\.200,1h$/m);
  assertMatch(conf, /^dhcp-boot=tag:ipxe,boot\.ipxe$/m);
  assertMatch(conf, new RegExp(`^tftp-root=${await Deno.realPath(tftp)}$`, "m"));
});

Deno.test({
  name:
    "netboot tree: dnsmasq accepts the generated configuration, with a range (and router adverts) and as proxy-DHCP",
  ignore: !hasDnsmasq,
  fn: async () => {
    for (
      const dhcp of [{ kind: "range" as const, start: "10.0.0.100", end: "10.0.0.200" }, {
        kind: "proxy" as const,
        subnet: "10.0.0.0",
      }]
    ) {
      await using dir = await tempDir();
      const written = await tree(dir.path, dhcp, dhcp.kind === "range");
      const { success, stderr } = await new Deno.Command("dnsmasq", {
        args: ["--test", `--conf-file=${written.dnsmasqConf}`],
        stderr: "piped",
      }).output();
      assert(success, new TextDecoder().decode(stderr));
      const conf = await Deno.readTextFile(written.dnsmasqConf);
      if (dhcp.kind === "proxy") assertMatch(conf, /^dhcp-range=10\.0\.0\.0,proxy$/m);
      else assertMatch(conf, /^enable-ra\ndhcp-range=::,constructor:kadbr-test,ra-only$/m);
    }
  },
});

Deno.test("netboot tree: bad addresses, interface names and parameters with spaces are refused", async () => {
  await using dir = await tempDir();
  await assertRejects(() => tree(dir.path, { kind: "range", start: "10.0.0", end: "10.0.0.9" }), ConfigError);
  assertThrows(() => kernelCommandLine({ hostname: "a b" }, "console=ttyS0"), /cannot contain spaces/);
});

Deno.test("netboot init: the init, post-install and udhcpc scripts parse as POSIX shell; the init reads every documented parameter", async () => {
  for (const script of [INIT_SCRIPT, POST_INSTALL_SCRIPT, UDHCPC_SCRIPT]) {
    const child = new Deno.Command("sh", { args: ["-n"], stdin: "piped", stderr: "piped" }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const { success, stderr } = await child.output();
    assert(success, new TextDecoder().decode(stderr));
  }
  for (const name of Object.keys(INIT_PARAMETERS)) assert(INIT_SCRIPT.includes(`param ${name} `), name);
});

/** Runs the post-install step as kad join would, `endedAgo` seconds after the stream ended. */
async function postInstall(position: number, endedAgo: number) {
  const started = performance.now();
  const { success, stdout, stderr } = await new Deno.Command("sh", {
    args: ["-c", POST_INSTALL_SCRIPT],
    env: {
      KAD_SINK: "dd",
      KAD_REBOOT_WINDOW: "6",
      KAD_POSITION: String(position),
      KAD_COUNT: "3",
      KAD_DONE: "poweroff",
      KAD_STREAM_ENDED_AGO: String(endedAgo),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(success, new TextDecoder().decode(stderr));
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return {
    lines: lines.map((l) => parsePhaseLine(l)?.phase ?? l),
    waited: (performance.now() - started) / 1000,
  };
}

Deno.test("netboot post-install: with a 6 s window node 1 of 3 reboots at once, node 2 two seconds after the stream ended", async () => {
  const first = await postInstall(1, 0);
  assertEquals(first.lines, [
    "configured",
    "kad-init: waiting 0.00 s for my turn (position 1 of 3, window 6 s)",
    "powering-off",
  ]);
  assert(first.waited < 1, `node 1 waited ${first.waited} s`);
  // node 2 starts its step 0.5 s after the end: its turn is 2 s after the end, 1.5 s from now
  const second = await postInstall(2, 0.5);
  assertEquals(second.lines[0], "configured");
  assertMatch(second.lines[1], /^kad-init: waiting 1\.[45]\d s for my turn \(position 2 of 3, window 6 s\)$/);
  assert(second.waited >= 1.4 && second.waited < 2.5, `node 2 waited ${second.waited} s`);
  // node 3 whose step took longer than its turn (4 s) goes at once
  assertMatch((await postInstall(3, 5)).lines[1], /waiting 0\.00 s/);
});

/** Runs one of the post-install step's file functions on a directory standing for the new system. */
async function nodeFiles(call: string, root: string, env: Record<string, string>): Promise<void> {
  const { success, stderr } = await new Deno.Command("sh", {
    args: ["-c", `${NODE_FILES_FUNCTIONS}\n${call} "$1"`, "sh", root],
    env,
    stderr: "piped",
  }).output();
  assert(success, new TextDecoder().decode(stderr));
}

Deno.test("netboot post-install: the golden's host name becomes the node's in /etc/hosts, other names stay", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "etc"));
  await Deno.writeTextFile(join(dir.path, "etc/hostname"), "golden\n");
  await Deno.writeTextFile(
    join(dir.path, "etc/hosts"),
    "127.0.0.1 localhost\n127.0.1.1 golden.lab golden\n# golden's comment\n10.0.0.9 goldenrod\n",
  );
  await nodeFiles("node_hostname", dir.path, { KAD_NODE: "node07" });
  assertEquals(await Deno.readTextFile(join(dir.path, "etc/hostname")), "node07\n");
  assertEquals(
    await Deno.readTextFile(join(dir.path, "etc/hosts")),
    "127.0.0.1 localhost\n127.0.1.1 node07.lab node07\n# golden's comment\n10.0.0.9 goldenrod\n",
  );
  // a golden whose hosts file does not name it: the node's name is added
  await Deno.writeTextFile(join(dir.path, "etc/hosts"), "127.0.0.1 localhost\n");
  await nodeFiles("node_hostname", dir.path, { KAD_NODE: "node08" });
  assertEquals(
    await Deno.readTextFile(join(dir.path, "etc/hosts")),
    "127.0.0.1 localhost\n127.0.1.1 node08\n",
  );
});

Deno.test("netboot post-install: the golden's fstab keeps swap, tmpfs and options, pointed at the node's file systems", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "etc"));
  await Deno.writeTextFile(
    join(dir.path, "etc/fstab"),
    [
      "# /etc/fstab: static file system information.",
      "UUID=11111111-1111-1111-1111-111111111111 / ext4 errors=remount-ro 0 1",
      "UUID=22222222-2222-2222-2222-222222222222 none swap sw 0 0",
      "UUID=ABCD-1234 /boot/efi vfat umask=0077 0 1",
      "tmpfs /tmp tmpfs defaults,size=1G 0 0",
      "",
    ].join("\n"),
  );
  await nodeFiles("node_fstab", dir.path, {
    KAD_ROOT_UUID: "aaaaaaaa-0000-0000-0000-000000000001",
    KAD_FS: "ext4",
    KAD_SWAP_UUIDS: " bbbbbbbb-0000-0000-0000-000000000002",
  });
  assertEquals(
    (await Deno.readTextFile(join(dir.path, "etc/fstab"))).split("\n"),
    [
      "# /etc/fstab: static file system information.",
      "UUID=aaaaaaaa-0000-0000-0000-000000000001 / ext4 errors=remount-ro 0 1",
      "UUID=bbbbbbbb-0000-0000-0000-000000000002 none swap sw 0 0",
      "# kad: no such partition on this node: UUID=ABCD-1234 /boot/efi vfat umask=0077 0 1",
      "tmpfs /tmp tmpfs defaults,size=1G 0 0",
      "",
    ],
  );
  // no fstab in the golden: one root line
  await Deno.remove(join(dir.path, "etc/fstab"));
  await nodeFiles("node_fstab", dir.path, {
    KAD_ROOT_UUID: "aaaaaaaa-0000-0000-0000-000000000001",
    KAD_FS: "ext4",
  });
  assertEquals(
    await Deno.readTextFile(join(dir.path, "etc/fstab")),
    "UUID=aaaaaaaa-0000-0000-0000-000000000001 / ext4 defaults 0 1\n",
  );
});

Deno.test({
  name:
    "netboot tree: PXE ROMs that are not iPXE chain-load undionly.kpxe (BIOS) or ipxe.efi (UEFI, option 93); dnsmasq accepts it",
  ignore: !hasDnsmasq,
  fn: async () => {
    await using dir = await tempDir();
    const loaders = ["undionly.kpxe", "ipxe.efi"];
    const base = {
      dir: dir.path,
      interface: "kadbr-test",
      kernel: "",
      initrd: "",
      params: {},
    };
    const range = dnsmasqConfig(
      { ...base, dhcp: { kind: "range", start: "10.0.0.100", end: "10.0.0.200" } },
      dir.path,
      loaders,
    );
    assertMatch(
      range,
      /^dhcp-match=set:efi64,option:client-arch,7\ndhcp-match=set:efi64,option:client-arch,9$/m,
    );
    assertMatch(range, /^dhcp-boot=tag:ipxe,boot\.ipxe\ndhcp-boot=tag:!ipxe,tag:efi64,ipxe\.efi\n/m);
    assertMatch(range, /^dhcp-boot=tag:!ipxe,tag:!efi64,undionly\.kpxe$/m);
    const proxy = dnsmasqConfig({ ...base, dhcp: { kind: "proxy", subnet: "10.0.0.0" } }, dir.path, loaders);
    assertMatch(proxy, /^pxe-service=tag:ipxe,x86PC,"kad deploy",boot\.ipxe$/m);
    assertMatch(proxy, /^pxe-service=tag:ipxe,x86-64_EFI,"kad deploy",boot\.ipxe$/m);
    assert(!/^dhcp-boot=/m.test(proxy), "proxy-DHCP sends no dhcp-boot");
    assertMatch(proxy, /^pxe-service=tag:!ipxe,x86PC,"kad deploy",undionly\.kpxe$/m);
    assertMatch(proxy, /^pxe-service=tag:!ipxe,x86-64_EFI,"kad deploy",ipxe\.efi$/m);
    for (const conf of [range, proxy]) {
      const file = join(dir.path, "dnsmasq.conf");
      await Deno.writeTextFile(file, conf);
      const { success, stderr } = await new Deno.Command("dnsmasq", {
        args: ["--test", `--conf-file=${file}`],
        stderr: "piped",
      }).output();
      assert(success, new TextDecoder().decode(stderr));
    }
  },
});
