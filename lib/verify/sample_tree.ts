/**
 * A sample tree with the cases that break naive cloning tools: dangling and relative symlinks,
 * hardlinks, a sparse file, empty files and directories, unicode and 200-character names, modes
 * 0000 and 4755, foreign owners, old modification times, and optionally a large file.
 *
 * @module
 */

import { join } from "node:path";

/** Options of {@link buildSampleTree}. */
export interface SampleTreeOptions {
  /** Size of the large random file in bytes (0 to leave it out). */
  largeFileBytes?: number;
}

/** Builds the sample tree in the existing empty directory `root`. */
export async function buildSampleTree(root: string, options: SampleTreeOptions = {}): Promise<void> {
  const at = (...parts: string[]) => join(root, ...parts);
  await Deno.mkdir(at("etc", "conf.d"), { recursive: true });
  await Deno.mkdir(at("empty-dir"));
  await Deno.mkdir(at("deep", "a", "b", "c", "d"), { recursive: true });
  await Deno.writeTextFile(at("etc", "hostname"), "golden\n");
  await Deno.writeTextFile(at("etc", "conf.d", "kad.conf"), "# kad sample\nchain = true\n");
  await Deno.writeFile(at("empty-file"), new Uint8Array());
  await Deno.writeFile(at("deep", "a", "b", "c", "d", "random.bin"), randomBytes(300_000));
  await Deno.writeTextFile(at("unicode-ünïcødé-日本語.txt"), "ünïcødé\n");
  await Deno.writeTextFile(at("n".repeat(200)), "a 200-character name\n");
  await Deno.symlink("etc/hostname", at("relative-link"));
  await Deno.symlink("../etc/conf.d/kad.conf", at("deep", "up-link"));
  await Deno.symlink("does/not/exist", at("dangling-link"));
  await Deno.writeTextFile(at("hardlink-a"), "one inode, two names\n");
  await Deno.link(at("hardlink-a"), at("etc", "hardlink-b"));
  await writeSparse(at("sparse.img"), 64 * 1024 * 1024);
  await Deno.writeTextFile(at("mode-0000"), "nobody may read me\n");
  await Deno.chmod(at("mode-0000"), 0o000);
  await Deno.writeFile(at("setuid-4755"), randomBytes(1000));
  await Deno.chmod(at("setuid-4755"), 0o4755);
  if (options.largeFileBytes) await Deno.writeFile(at("large.bin"), randomBytes(options.largeFileBytes));
  if (Deno.uid() === 0) {
    await Deno.chown(at("etc", "conf.d", "kad.conf"), 1234, 5678);
    await Deno.chown(at("deep"), 4321, 8765);
    await Deno.chmod(at("setuid-4755"), 0o4755); // chown clears set-id bits on some systems
  }
  const old = new Date("2002-06-01T12:00:00Z");
  await Deno.utime(at("etc", "hostname"), old, old);
  await Deno.utime(at("empty-dir"), old, old);
}

async function writeSparse(path: string, size: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.write(new TextEncoder().encode("start of a sparse file\n"));
  await file.seek(size / 2, Deno.SeekMode.Start);
  await file.write(new TextEncoder().encode("middle\n"));
  await file.truncate(size);
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}
