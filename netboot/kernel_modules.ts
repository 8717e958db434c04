/**
 * Picks kernel modules out of an unpacked kernel package: the modules asked for and everything
 * they depend on (read from each module's `depends=` modinfo string), with a `modules.dep` for
 * busybox modprobe. Modules built into the kernel are skipped.
 *
 * @module
 */

import { join, relative } from "node:path";
import { ConfigError } from "../lib/errors.ts";

/** What a deploy node needs: disks, network cards, file systems, for virtual and common machines. */
export const DEFAULT_MODULES: readonly string[] = [
  "virtio_pci",
  "virtio_blk",
  "virtio_scsi",
  "virtio_net",
  "nvme",
  "ahci",
  "ata_piix",
  "sd_mod",
  "e1000",
  "e1000e",
  "igb",
  "ixgbe",
  "i40e",
  "tg3",
  "bnx2",
  "r8169",
  "ext4",
  "crc32c_generic",
  "vfat",
  "nls_cp437",
  "nls_iso8859_1",
];

/** The modules chosen, in load order (dependencies first), as paths under `lib/modules/VERSION`. */
export interface ModuleSelection {
  /** The kernel version (the directory name under lib/modules). */
  version: string;
  /** Module files relative to the version directory, dependencies before their users. */
  files: string[];
  /** The `modules.dep` text for exactly these files. */
  modulesDep: string;
  /** Names asked for that are built into this kernel. */
  builtin: string[];
  /** Names asked for that this kernel does not have at all. */
  missing: string[];
}

const normal = (name: string) => name.replaceAll("-", "_");

/** Selects `wanted` and its dependencies from `modulesRoot` (an unpacked `lib/modules`). */
export async function selectModules(
  modulesRoot: string,
  wanted: readonly string[],
): Promise<ModuleSelection> {
  const versions: string[] = [];
  for await (const entry of Deno.readDir(modulesRoot)) if (entry.isDirectory) versions.push(entry.name);
  if (versions.length !== 1) {
    throw new ConfigError(`Expected one kernel version under ${modulesRoot}, found ${versions.length}`);
  }
  const version = versions[0];
  const root = join(modulesRoot, version);
  const byName = new Map<string, string>();
  await walk(join(root, "kernel"), (path) => {
    const m = /([^/]+)\.ko$/.exec(path);
    if (m) byName.set(normal(m[1]), relative(root, path));
  });
  const builtinText = await Deno.readTextFile(join(root, "modules.builtin")).catch(() => "");
  const builtinNames = new Set(
    builtinText.split("\n").map((line) => normal(line.replace(/^.*\/|\.ko$/g, ""))),
  );
  const deps = new Map<string, string[]>();
  const order: string[] = [];
  const visit = async (name: string, trail: string[]): Promise<void> => {
    if (deps.has(name) || trail.includes(name)) return;
    const file = byName.get(name)!;
    const direct = await dependsOf(join(root, file));
    deps.set(name, direct);
    for (const dep of direct) {
      if (!byName.has(dep)) throw new ConfigError(`Module ${name} needs ${dep}, which ${version} lacks`);
      await visit(dep, [...trail, name]);
    }
    order.push(name);
  };
  const builtin: string[] = [];
  const missing: string[] = [];
  for (const raw of wanted) {
    const name = normal(raw);
    if (byName.has(name)) await visit(name, []);
    else if (builtinNames.has(name)) builtin.push(raw);
    else missing.push(raw);
  }
  const closure = (name: string, seen = new Set<string>()): string[] => {
    for (const dep of deps.get(name)!) {
      if (!seen.has(dep)) {
        seen.add(dep);
        closure(dep, seen);
      }
    }
    return [...seen];
  };
  // modules.dep lists every (transitive) dependency; modprobe loads them from the end of the list
  const lines = order.map((name) => {
    const all = closure(name);
    const sorted = order.filter((n) => all.includes(n)).reverse();
    return `${byName.get(name)}:${sorted.map((n) => " " + byName.get(n)).join("")}`;
  });
  return {
    version,
    files: order.map((name) => byName.get(name)!),
    modulesDep: lines.join("\n") + "\n",
    builtin,
    missing,
  };
}

/** The `depends=` list of a module file's modinfo. */
async function dependsOf(path: string): Promise<string[]> {
  const bytes = await Deno.readFile(path);
  const text = new TextDecoder("latin1").decode(bytes);
  const at = text.indexOf("\0depends=");
  if (at < 0) return [];
  const end = text.indexOf("\0", at + 1);
  const list = text.slice(at + "\0depends=".length, end);
  return list === "" ? [] : list.split(",").map(normal);
}

async function walk(dir: string, onFile: (path: string) => void): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) await walk(path, onFile);
    else if (entry.isFile) onFile(path);
  }
}
