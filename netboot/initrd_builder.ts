/**
 * Builds the deploy initramfs from Debian packages: busybox-static, the kernel's modules for
 * disks, network and file systems (with modules.dep), sfdisk, mke2fs, tar and zstd with the libraries they
 * load, kad itself (the compiled binary, or deno plus the bundled kad.js), and the /init of
 * init_script.ts. Packages come from `apt-get download` into a cache directory, so a second build
 * needs no network. The archive is newc cpio compressed with zstd (gzip when zstd is absent).
 *
 * @module
 */

import { join } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { defaultKernelPackage, downloadPackages, unpackPackages } from "./debian_packages.ts";
import { InitramfsFiles, moduleNames, writeInitramfs } from "./initramfs_files.ts";
import { INIT_SCRIPT, POST_INSTALL_SCRIPT, UDHCPC_SCRIPT } from "./init_script.ts";
import { DEFAULT_MODULES, selectModules } from "./kernel_modules.ts";

/** How kad gets into the initramfs. */
export type KadPayload =
  | { kind: "binary"; path: string }
  | { kind: "deno"; deno: string; script: string; flags: readonly string[] };

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

const TOOL_PACKAGES = [
  "busybox-static",
  "fdisk",
  "libfdisk1",
  "e2fsprogs",
  "tar",
  // zstd decompresses a `kad serve --compress` stream; its libraries come from their packages
  "zstd",
  "zlib1g",
  "liblzma5",
  "liblz4-1",
];
/**
 * The real tools: [package, path in the package, path in the initramfs]. /usr comes first on the
 * init's PATH, so kad's `tar -x` is GNU tar (its options and its refusal of `..`), not the applet.
 */
const TOOLS: [string, string, string][] = [
  ["fdisk", "sbin/sfdisk", "usr/sbin/sfdisk"],
  ["e2fsprogs", "sbin/mke2fs", "usr/sbin/mke2fs"],
  ["tar", "bin/tar", "usr/bin/tar"],
  ["zstd", "usr/bin/zstd", "usr/bin/zstd"],
];

/** Builds the kernel and initramfs into `options.outDir`. */
export async function buildInitrd(options: InitrdOptions): Promise<InitrdResult> {
  const say = options.onProgress ?? (() => {});
  const kernelPackage = options.kernelPackage ?? await defaultKernelPackage();
  await Deno.mkdir(options.outDir, { recursive: true });
  const debs = await downloadPackages([...TOOL_PACKAGES, kernelPackage], options.cacheDir, say);
  const staging = await Deno.makeTempDir({ prefix: "kad-initrd-" });
  try {
    const roots = await unpackPackages(debs, staging);
    const files = new InitramfsFiles();
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
    await files.addProgram("bin/busybox", join(roots.get("busybox-static")!, "bin/busybox"));
    // the kernel asks /sbin/modprobe for modules it needs on demand (crc32c for ext4)
    files.add({ kind: "symlink", path: "sbin/modprobe", target: "/bin/busybox" });
    const elves: string[] = [];
    for (const [pkg, path, target] of TOOLS) {
      const source = join(roots.get(pkg)!, path);
      await files.addProgram(target, source);
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
      const { deno, script, flags } = options.kad;
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
      files.addText("bin/kad", kadWrapper(flags), 0o755);
      elves.push(deno);
    }
    const packageRoots = [...roots.values()];
    const libDirs = packageRoots.flatMap((root) => [
      join(root, "lib/x86_64-linux-gnu"),
      join(root, "usr/lib/x86_64-linux-gnu"),
    ]);
    await files.addLibraries(elves, libDirs, packageRoots);
    const kernelRoot = roots.get(kernelPackage)!;
    const selection = await selectModules(join(kernelRoot, "lib/modules"), [
      ...DEFAULT_MODULES,
      ...options.extraModules ?? [],
    ]);
    say(`kernel ${selection.version}: ${selection.files.length} modules`);
    await files.addModules(kernelRoot, selection);
    files.addText("etc/kad/modules", moduleNames(selection).join("\n") + "\n");
    files.addText("etc/kad/udhcpc.script", UDHCPC_SCRIPT, 0o755);
    files.addText("etc/kad/post-install", POST_INSTALL_SCRIPT, 0o755);
    files.addText("init", INIT_SCRIPT, 0o755);

    const kernel = join(options.outDir, "vmlinuz");
    await Deno.copyFile(join(kernelRoot, "boot", `vmlinuz-${selection.version}`), kernel);
    const initrd = join(options.outDir, "initrd.img");
    say("writing the initramfs");
    const compression = await writeInitramfs(files.entries(), initrd);
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

/** The /bin/kad of a deno initramfs: deno runs the bundle with kad's flags (permissions, V8). */
function kadWrapper(flags: readonly string[]): string {
  return [
    "#!/bin/sh",
    "export DENO_DIR=/tmp/deno HOME=/tmp DENO_NO_UPDATE_CHECK=1 NO_COLOR=1",
    `exec /usr/bin/deno run --quiet --no-prompt ${flags.join(" ")} /usr/lib/kad/kad.js "$@"`,
    "",
  ].join("\n");
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
