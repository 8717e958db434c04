/**
 * Debian packages for the netboot kit: which kernel package `linux-image-amd64` names, `apt-get
 * download` into a cache directory (a second build needs no network), and unpacking with
 * `dpkg-deb -x`.
 *
 * @module
 */

import { basename, join } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { runTool } from "../lib/process/host_tool.ts";

/** The versioned kernel package `linux-image-amd64` depends on, e.g. linux-image-6.1.0-56-amd64. */
export async function defaultKernelPackage(): Promise<string> {
  const out = await runTool("apt-cache", ["depends", "linux-image-amd64"], "find the kernel package");
  const m = /Depends:\s+(linux-image-\S+)/.exec(out);
  if (!m) {
    throw new ConfigError("Cannot tell which kernel package linux-image-amd64 names: give --kernel-package");
  }
  return m[1];
}

/** The .deb of each package, from `cacheDir` or downloaded into it. */
export async function downloadPackages(
  packages: readonly string[],
  cacheDir: string,
  say: (line: string) => void = () => {},
): Promise<Map<string, string>> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const cached = async () => {
    const map = new Map<string, string>();
    for await (const entry of Deno.readDir(cacheDir)) {
      const name = entry.name.split("_")[0];
      if (entry.name.endsWith(".deb") && packages.includes(name)) map.set(name, join(cacheDir, entry.name));
    }
    return map;
  };
  let debs = await cached();
  const missing = packages.filter((p) => !debs.has(p));
  if (missing.length > 0) {
    say(`downloading ${missing.join(" ")}`);
    await runTool("apt-get", ["download", ...missing], "apt-get download", { cwd: cacheDir });
    debs = await cached();
  }
  const still = packages.filter((p) => !debs.has(p));
  if (still.length > 0) throw new ConfigError(`apt-get download did not provide ${still.join(", ")}`);
  return debs;
}

/** Unpacks each .deb into `dir/PACKAGE`; returns the package roots by name. */
export async function unpackPackages(debs: Map<string, string>, dir: string): Promise<Map<string, string>> {
  const roots = new Map<string, string>();
  for (const [name, deb] of debs) {
    const root = join(dir, name);
    await runTool("dpkg-deb", ["-x", deb, root], `unpack ${basename(deb)}`);
    roots.set(name, root);
  }
  return roots;
}
