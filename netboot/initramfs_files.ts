/**
 * The files of an initramfs, in archive order: directories once each and before their contents,
 * files, devices and links; the shared libraries binaries load; kernel modules with their
 * modules.dep; and the compressed newc archive (zstd, gzip when zstd is absent).
 *
 * @module
 */

import { basename, dirname, join, relative } from "node:path";
import { ConfigError } from "../lib/errors.ts";
import { type CpioEntry, writeCpio } from "./cpio.ts";
import { runTool } from "../lib/process/host_tool.ts";
import type { ModuleSelection } from "./kernel_modules.ts";

/** Entries in archive order, each directory once. */
export class InitramfsFiles {
  readonly #entries: CpioEntry[] = [];
  readonly #dirs = new Set<string>();

  /** Adds directories (and their parents) not added yet. */
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

  /** Adds an entry after its parent directories; a path already present is kept as it was. */
  add(entry: CpioEntry): void {
    this.dirs(...parents(entry.path));
    if (this.#entries.some((e) => e.path === entry.path)) return;
    this.#entries.push(entry);
  }

  /** Adds an executable file read from `source`. */
  async addProgram(path: string, source: string): Promise<void> {
    this.add({ kind: "file", path, data: await Deno.readFile(source), mode: 0o755 });
  }

  /** Adds a text file. */
  addText(path: string, content: string, mode = 0o644): void {
    this.add({ kind: "file", path, data: new TextEncoder().encode(content), mode });
  }

  /**
   * Adds the shared libraries `binaries` load (resolved by ldd, `libDirs` first). A library found
   * under one of `packageRoots` goes where the package puts it, any other where the host has it.
   */
  async addLibraries(binaries: string[], libDirs: string[], packageRoots: string[]): Promise<void> {
    for (const lib of await sharedLibraries(binaries, libDirs)) {
      const inPackage = packageRoots.find((root) => lib.startsWith(root + "/"));
      const target = inPackage ? relative(inPackage, lib) : lib.replace(/^\//, "");
      await this.addProgram(target, lib);
    }
  }

  /** Adds the selected modules of the kernel unpacked at `kernelRoot`, with modules.dep. */
  async addModules(kernelRoot: string, selection: ModuleSelection): Promise<void> {
    const moduleDir = `lib/modules/${selection.version}`;
    for (const file of selection.files) {
      this.add({
        kind: "file",
        path: join(moduleDir, file),
        data: await Deno.readFile(join(kernelRoot, moduleDir, file)),
      });
    }
    this.addText(join(moduleDir, "modules.dep"), selection.modulesDep);
    for (const extra of ["modules.builtin", "modules.order"]) {
      const data = await Deno.readFile(join(kernelRoot, moduleDir, extra)).catch(() => new Uint8Array());
      this.add({ kind: "file", path: join(moduleDir, extra), data });
    }
  }

  /** Every entry, in archive order. */
  entries(): CpioEntry[] {
    return this.#entries;
  }
}

/** The names of the selected modules, dependencies first (the order to load them in). */
export function moduleNames(selection: ModuleSelection): string[] {
  return selection.files.map((file) => basename(file, ".ko"));
}

/** Writes `entries` as a compressed newc archive at `path`; returns the compression used. */
export async function writeInitramfs(entries: CpioEntry[], path: string): Promise<"zstd" | "gzip"> {
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

/** The ancestors of a relative path, outermost first ("a/b/c" → "a", "a/b"). */
function parents(path: string): string[] {
  const out: string[] = [];
  for (let dir = dirname(path); dir !== "." && dir !== "/"; dir = dirname(dir)) out.unshift(dir);
  return out;
}

/** The shared libraries (and the loader) `binaries` load, resolved by ldd; `libDirs` first. */
export async function sharedLibraries(binaries: string[], libDirs: string[]): Promise<string[]> {
  const found = new Set<string>();
  for (const binary of binaries) {
    const out = await runTool("ldd", [binary], `ldd ${binary}`, {
      env: { LD_LIBRARY_PATH: libDirs.join(":") },
    }).catch(() => "");
    for (const line of out.split("\n")) {
      const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s+(\/\S+)\s+\(/.exec(line);
      if (m) found.add(m[1]);
    }
  }
  return [...found].sort();
}
