/**
 * `kad netboot initrd` builds the deploy kernel and initramfs; `kad netboot init DIR` writes the
 * netboot tree (dnsmasq, iPXE, PXELINUX, the files the nodes fetch) that boots them.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { buildInitrd, type KadPayload } from "../netboot/initrd_builder.ts";
import { type DhcpMode, writeNetbootTree } from "../netboot/netboot_tree.ts";
import { type FlagSpec, hostPort, type ParsedFlags, read, UsageError } from "./flags.ts";
import { NETBOOT_FLAGS as F } from "./commands.ts";
import { DEFAULT_CONTROL_PORT } from "../lib/protocol/frame.ts";
import { tokenChoice } from "./join_token_option.ts";
import { KAD_DENO_FLAGS, selfCommand } from "./self_exec.ts";
import { stderrOut, stdoutOut } from "./terminal.ts";

/** Runs `kad netboot SUBCOMMAND`. */
export async function netbootCommand(flags: ParsedFlags, positionals: string[]): Promise<number> {
  const [sub, ...rest] = positionals;
  switch (sub) {
    case "initrd":
      if (rest.length > 0) throw new UsageError(`Unexpected argument "${rest[0]}"`, "netboot");
      return await initrdCommand(flags);
    case "init":
      if (rest.length !== 1) throw new UsageError("kad netboot init needs one directory", "netboot");
      return await initCommand(flags, rest[0]);
    default:
      throw new UsageError(
        sub === undefined ? "Missing subcommand: initrd or init" : `Unknown subcommand "${sub}"`,
        "netboot",
      );
  }
}

async function initrdCommand(flags: ParsedFlags): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "netboot");
  const err = stderrOut();
  const result = await buildInitrd({
    outDir: get(F.out)!,
    cacheDir: get(F.cache)!,
    kernelPackage: get(F.kernelPackage),
    kad: kadPayload(get(F.kadJs)),
    extraModules: get(F.module)!,
    onProgress: (line) => err.write(`kad: ${line}\n`),
  });
  if (result.modules.missing.length > 0) {
    err.write(`kad: this kernel has no module ${result.modules.missing.join(", ")} (left out)\n`);
  }
  stdoutOut().write(
    `${result.kernel} (Linux ${result.kernelVersion})\n${result.initrd}: ${
      (result.bytes / 1e6).toFixed(1)
    } MB, ${result.compression}, ${result.modules.included} modules\n`,
  );
  return 0;
}

/**
 * kad for the initramfs: a compiled kad copies itself; from source or the bundle, deno plus the
 * bundle (`dist/kad.js`, which `deno task bundle` makes).
 */
function kadPayload(kadJs: string | undefined): KadPayload {
  const self = selfCommand();
  if (self.length === 1 && kadJs === undefined) return { kind: "binary", path: self[0] };
  const entry = self[self.length - 1];
  const script = kadJs ?? (entry.endsWith(".js") ? entry : join(dirname(dirname(entry)), "dist", "kad.js"));
  if (!script.endsWith(".js")) {
    throw new ConfigError(`--kad-js must name a bundled kad.js (deno task bundle), not "${script}"`);
  }
  return { kind: "deno", deno: Deno.execPath(), script, flags: KAD_DENO_FLAGS };
}

async function initCommand(flags: ParsedFlags, dir: string): Promise<number> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "netboot");
  const iface = get(F.interface);
  if (iface === undefined) {
    throw new UsageError("Missing --interface IF (dnsmasq serves only that one)", "netboot");
  }
  const server = get(F.server);
  const agent = get(F.agent);
  if (server === undefined && agent === undefined) {
    throw new UsageError(
      "Missing --server HOST[:PORT] (the kad serve to join) or --agent HEAD[:PORT] (the kad head to serve)",
      "netboot",
    );
  }
  const dhcp = dhcpMode(get(F.dhcpRange), get(F.proxyDhcp));
  const { token } = await tokenChoice(flags, "netboot", "node");
  const boot = get(F.boot)!;
  const waitServerMs = get(F.waitServer);
  const tree = await writeNetbootTree({
    dir,
    interface: iface,
    dhcp,
    kernel: join(boot, "vmlinuz"),
    initrd: join(boot, "initrd.img"),
    layout: layoutSource(get(F.layout), get(F.layoutFrom)),
    nodes: get(F.nodes),
    hooksDir: get(F.hooks),
    console: get(F.console),
    routerAdverts: get(F.ipv6Ra)!,
    params: {
      ...(server === undefined ? {} : { server }),
      ...(agent === undefined ? {} : { agent }),
      ...(token === null ? { insecure: "1" } : { token }),
      disk: get(F.disk) ?? "",
      root: String(get(F.root)),
      fs: get(F.fs)!,
      sink: get(F.sink)!,
      bootloader: get(F.bootloader)!,
      done: get(F.done)!,
      reboot_window: String(get(F.rebootWindow)! / 1000),
      // nodes may boot before kad serve runs: they wait for it, forever unless bounded
      ...(waitServerMs === undefined ? {} : { wait_server: String(waitServerMs / 1000) }),
      // with proxy-DHCP the lease comes from another server: files are fetched from kad's host
      tftp: get(F.tftp) ??
        (dhcp.kind === "proxy" ? hostPort((server ?? agent)!, DEFAULT_CONTROL_PORT, "netboot").host : ""),
    },
  });
  const out = stdoutOut();
  out.write(
    `wrote ${dir}: start the boot services with\n  dnsmasq --no-daemon --conf-file=${tree.dnsmasqConf}\n`,
  );
  out.write(`nodes boot with: ${tree.cmdline.replace(/kad\.token=\S+/, "kad.token=…")}\n`);
  if (tree.pxeLoaders.length === 0) {
    stderrOut().write(
      "kad: no PXE loader found (apt-get install ipxe pxelinux syslinux-common): only iPXE ROMs can boot\n",
    );
  }
  return 0;
}

function layoutSource(file: string | undefined, device: string | undefined) {
  if (file !== undefined && device !== undefined) {
    throw new UsageError("Give only one of --layout FILE and --layout-from DEVICE", "netboot");
  }
  if (file !== undefined) return { file };
  if (device !== undefined) return { device };
  return undefined;
}

function dhcpMode(range: string | undefined, proxy: string | undefined): DhcpMode {
  if ((range === undefined) === (proxy === undefined)) {
    throw new UsageError("Give one of --dhcp-range FIRST,LAST or --proxy-dhcp SUBNET", "netboot");
  }
  if (proxy !== undefined) return { kind: "proxy", subnet: proxy };
  const [start, end, ...more] = range!.split(",");
  if (end === undefined || more.length > 0) throw new UsageError("--dhcp-range takes FIRST,LAST", "netboot");
  return { kind: "range", start, end };
}
