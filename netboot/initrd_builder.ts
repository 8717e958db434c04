/**
 * Builds the deploy initramfs from Debian packages: busybox-static, the kernel's modules for
 * disks, network and file systems (with modules.dep), sfdisk and mke2fs with the libraries they
 * load, kad itself (the compiled binary, or deno plus the bundled kad.js), and the /init of
 * init_script.ts. Packages come from `apt-get download` into a cache directory, so a second build
 * needs no network. The archive is newc cpio compressed with zstd (gzip when zstd is absent).
 *
 * @module
 */

import { basename, dirname, join, relative } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { type CpioEntry, writeCpio } from "./cpio.ts";
import { runTool } from "./host_tool.ts";
import { INIT_SCRIPT, UDHCPC_SCRIPT } from "./init_script.ts";
import { DEFAULT_MODULES, selectModules } from "./kernel_modules.ts";

/** How kad gets into the initramfs. */
export type KadPayload =
  | { kind: "binary"; path: string }
  | { kind: "deno"; deno: string; script: string; permissions: readonly string[] };

/** Options of {@link buildInitrd}. */
export interface InitrdOptions {
  /** Directory that receives `vmlinuz` and `initrd.img`. */
  outDir: string;
  /** Where downloaded .deb files are kept. */
  cacheDir: string;
  /** The kernel package (default: what linux-image-amd64 depends on). */
  kernelPackage?: string;
  /** kad for the node. */
  kad: KadPayload;
  /** Module names besides {@link DEFAULT_MODULES}. */
  extraModules?: string[];
  /** Progress lines. */
  onProgress?: (line: string) => void;
}

/** What was built. */
export interface InitrdResult {
  /** The kernel image. */
  kernel: string;
  /** The initramfs. */
  initrd: string;
  /** Kernel version. */
  kernelVersion: string;
  /** Bytes of the initramfs. */
  bytes: number;
  /** Compression used. */
  compression: "zstd" | "gzip";
  /** Modules included, and those asked for that the kernel lacks. */
  modules: { included: number; missing: string[] };
}

const TOOL_PACKAGES = ["busybox-static", "fdisk", "libfdisk1", "e2fsprogs", "tar"];
/**
 * The real tools: [package, path in the package, path in the initramfs]. /usr comes first on the
 * init's PATH, so kad's `tar -x` is GNU tar (its options and its refusal of `..`), not the applet.
 */
const TOOLS: [string, string, string][] = [
  ["fdisk", "sbin/sfdisk", "usr/sbin/sfdisk"],
  ["e2fsprogs", "sbin/mke2fs", "usr/sbin/mke2fs"],
  ["tar", "bin/tar", "usr/bin/tar"],
];

/** Builds the kernel and initramfs into `options.outDir`. */
export async function buildInitrd(options: InitrdOptions): Promise<InitrdResult> {
  const say = options.onProgress ?? (() => {});
  const kernelPackage = options.kernelPackage ?? await defaultKernelPackage();
  const packages = [...TOOL_PACKAGES, kernelPackage];
  await Deno.mkdir(options.cacheDir, { recursive: true });
  await Deno.mkdir(options.outDir, { recursive: true });
  const debs = await download(packages, options.cacheDir, say);
  const staging = await Deno.makeTempDir({ prefix: "kad-initrd-" });
  try {
    const roots = new Map<string, string>();
    for (const [name, deb] of debs) {
      const root = join(staging, name);
      await runTool("dpkg-deb", ["-x", deb, root], `unpack ${basename(deb)}`);
      roots.set(name, root);
    }
    const files = new InitrdFiles();
    files.dirs(
      "bin",
      "sbin",
      "usr/bin",
      "usr/sbin",
      "etc/kad",
      "proc",
      "sys",
      "dev",
      "tmp",
      "run",
      "mnt/target",
    );
    files.add({ kind: "char", path: "dev/console", major: 5, minor: 1 });
    files.add({ kind: "char", path: "dev/null", major: 1, minor: 3, mode: 0o666 });
    files.add({
      kind: "file",
      path: "bin/busybox",
      data: await read(roots, "busybox-static", "bin/busybox"),
      mode: 0o755,
    });
    // the kernel asks /sbin/modprobe for modules it needs on demand (crc32c for ext4)
    files.add({ kind: "symlink", path: "sbin/modprobe", target: "/bin/busybox" });
    const elves: string[] = [];
    for (const [pkg, path, target] of TOOLS) {
      const source = join(roots.get(pkg)!, path);
      files.add({
        kind: "file",
        path: target,
        data: await Deno.readFile(source),
        mode: 0o755,
      });
      elves.push(source);
    }
    say("adding kad");
    if (options.kad.kind === "binary") {
      files.add({
        kind: "file",
        path: "bin/kad",
        data: await readInput(options.kad.path, "kad binary"),
        mode: 0o755,
      });
      elves.push(options.kad.path);
    } else {
      const { deno, script, permissions } = options.kad;
      files.dirs("usr/lib/kad");
      files.add({
        kind: "file",
        path: "usr/bin/deno",
        data: await readInput(deno, "deno binary"),
        mode: 0o755,
      });
      files.add({
        kind: "file",
        path: "usr/lib/kad/kad.js",
        data: await readInput(script, "bundled kad.js"),
      });
      files.add({ kind: "file", path: "bin/kad", data: text(kadWrapper(permissions)), mode: 0o755 });
      elves.push(deno);
    }
    const libDirs = [...roots.values()].flatMap((
      root,
    ) => [join(root, "lib/x86_64-linux-gnu"), join(root, "usr/lib/x86_64-linux-gnu")]);
    for (const lib of await sharedLibraries(elves, libDirs)) {
      const inPackage = [...roots.values()].find((root) => lib.startsWith(root + "/"));
      const target = inPackage ? relative(inPackage, lib) : lib.replace(/^\//, "");
      files.dirs(...parents(target));
      files.add({ kind: "file", path: target, data: await Deno.readFile(lib), mode: 0o755 });
    }
    const kernelRoot = roots.get(kernelPackage)!;
    const selection = await selectModules(join(kernelRoot, "lib/modules"), [
      ...DEFAULT_MODULES,
      ...options.extraModules ?? [],
    ]);
    say(`kernel ${selection.version}: ${selection.files.length} modules`);
    const moduleDir = `lib/modules/${selection.version}`;
    for (const file of selection.files) {
      files.dirs(...parents(join(moduleDir, file)));
      files.add({
        kind: "file",
        path: join(moduleDir, file),
        data: await Deno.readFile(join(kernelRoot, moduleDir, file)),
      });
    }
    files.add({ kind: "file", path: join(moduleDir, "modules.dep"), data: text(selection.modulesDep) });
    for (const extra of ["modules.builtin", "modules.order"]) {
      const path = join(kernelRoot, moduleDir, extra);
      files.add({
        kind: "file",
        path: join(moduleDir, extra),
        data: await Deno.readFile(path).catch(() => new Uint8Array()),
      });
    }
    const names = selection.files.map((file) => basename(file, ".ko"));
    files.add({ kind: "file", path: "etc/kad/modules", data: text(names.join("\n") + "\n") });
    files.add({ kind: "file", path: "etc/kad/udhcpc.script", data: text(UDHCPC_SCRIPT), mode: 0o755 });
    files.add({ kind: "file", path: "init", data: text(INIT_SCRIPT), mode: 0o755 });

    const kernel = join(options.outDir, "vmlinuz");
    await Deno.copyFile(join(kernelRoot, "boot", `vmlinuz-${selection.version}`), kernel);
    const initrd = join(options.outDir, "initrd.img");
    say("writing the initramfs");
    const compression = await compress(files.entries(), initrd);
    return {
      kernel,
      initrd,
      kernelVersion: selection.version,
      bytes: (await Deno.stat(initrd)).size,
      compression,
      modules: { included: selection.files.length, missing: selection.missing },
    };
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}

/** The /bin/kad of a deno initramfs: deno runs the bundle with kad's permissions. */
function kadWrapper(permissions: readonly string[]): string {
  return [
    "#!/bin/sh",
    "export DENO_DIR=/tmp/deno HOME=/tmp DENO_NO_UPDATE_CHECK=1 NO_COLOR=1",
    `exec /usr/bin/deno run --quiet --no-prompt ${permissions.join(" ")} /usr/lib/kad/kad.js "$@"`,
    "",
  ].join("\n");
}

/** Entries in archive order, each directory once. */
class InitrdFiles {
  readonly #entries: CpioEntry[] = [];
  readonly #dirs = new Set<string>();

  dirs(...paths: string[]): void {
    for (const path of paths) {
      for (const dir of [...parents(path + "/x")]) {
        if (!this.#dirs.has(dir)) {
          this.#dirs.add(dir);
          this.#entries.push({ kind: "dir", path: dir });
        }
      }
    }
  }

  add(entry: CpioEntry): void {
    this.dirs(...parents(entry.path));
    if (this.#entries.some((e) => e.path === entry.path)) return;
    this.#entries.push(entry);
  }

  entries(): CpioEntry[] {
    return this.#entries;
  }
}

/** The ancestors of a relative path, outermost first ("a/b/c" → "a", "a/b"). */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let dir = dirname(path); dir !== "." && dir !== "/"; dir = dirname(dir)) out.unshift(dir);
  return out;
}

/** The shared libraries (and the loader) `binaries` load, resolved by ldd; package dirs first. */
async function sharedLibraries(binaries: string[], libDirs: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const binary of binaries) {
    const out = await runTool("ldd", [binary], `ldd ${binary}`, {
      env: { LD_LIBRARY_PATH: libDirs.join(":") },
    }).catch(
      () => "",
    );
    for (const line of out.split("\n")) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
      if (m) found.add(m[1]);
    }
  }
  return [...found].sort();
}

async function defaultKernelPackage(): Promise<string> {
  const out = await runTool("apt-cache", ["depends", "linux-image-amd64"], "find the kernel package");
  const m = /Depends:\s+(linux-image-\S+)/.exec(out);
  if (!m) {
    throw new ConfigError("Cannot tell which kernel package linux-image-amd64 names: give --kernel-package");
  }
  return m[1];
}

/** The .deb of each package, from the cache or downloaded into it. */
async function download(
  packages: string[],
  cacheDir: string,
  say: (line: string) => void,
): Promise<Map<string, string>> {
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

async function compress(entries: CpioEntry[], path: string): Promise<"zstd" | "gzip"> {
  const zstd = await runTool("zstd", ["--version"], "zstd").then(() => true, () => false);
  if (zstd) {
    const child = new Deno.Command("zstd", {
      args: ["-q", "-f", "-T0", "-o", path],
      stdin: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writeCpio(entries, writer);
    await writer.close();
    const { success, stderr } = await child.output();
    if (!success) throw new ConfigError(`zstd failed: ${new TextDecoder().decode(stderr).trim()}`);
    return "zstd";
  }
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const gzip = new CompressionStream("gzip");
  const piping = gzip.readable.pipeTo(file.writable);
  const writer = gzip.writable.getWriter();
  await writeCpio(entries, writer);
  await writer.close();
  await piping;
  return "gzip";
}

async function read(roots: Map<string, string>, pkg: string, path: string): Promise<Uint8Array<ArrayBuffer>> {
  return await Deno.readFile(join(roots.get(pkg)!, path));
}

async function readInput(path: string, what: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read the ${what} "${path}": ${error instanceof Error ? error.message : error}`,
    );
  }
}

function text(value: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(value);
}
