import { join } from "node:path";
import type { ChildSpec } from "../../lib/process/child_process.ts";
import { tarCreateSpec, tarExcludes } from "../../lib/source/tar_source.ts";
import { scanTree, tarSizeEstimate } from "../../lib/source/tree_scan.ts";
import { assertEquals } from "../_helpers/assert.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

Deno.test("tree scan: counts the bytes tar will read and leaves out what the excludes name", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "etc"));
  await Deno.mkdir(join(dir.path, "proc/1"), { recursive: true });
  await Deno.writeFile(join(dir.path, "etc/a"), new Uint8Array(1000));
  await Deno.writeFile(join(dir.path, "proc/1/status"), new Uint8Array(5000));
  await Deno.writeFile(join(dir.path, "big.log"), new Uint8Array(7000));
  await Deno.symlink("etc/a", join(dir.path, "link"));
  const all = await scanTree(dir.path, { excludes: [], checkReadable: true });
  assertEquals(all.bytes, 13_000);
  assertEquals(all.unreadableCount, 0);
  const some = await scanTree(dir.path, { excludes: ["./proc/*", "*.log"], checkReadable: false });
  assertEquals(some.bytes, 1000);
});

Deno.test("tree scan: the tar size estimate is the size of the stream the source's tar writes", async () => {
  await using dir = await tempDir();
  const deep = join(dir.path, "a-directory-with-a-long-name".repeat(3), "and-deeper-still".repeat(4));
  await Deno.mkdir(deep, { recursive: true });
  await Deno.mkdir(join(dir.path, "proc"));
  await Deno.writeFile(join(deep, "file-past-the-ustar-name-field"), new Uint8Array(70_001));
  await Deno.writeFile(join(dir.path, "empty"), new Uint8Array(0));
  await Deno.writeFile(join(dir.path, "proc/left-out"), new Uint8Array(9_999));
  for (let i = 0; i < 40; i++) await Deno.writeFile(join(dir.path, `small-${i}`), new Uint8Array(i * 37));
  await Deno.symlink("empty", join(dir.path, "link"));
  const excludes = tarExcludes([], true);
  const scan = await scanTree(dir.path, { excludes, checkReadable: false });
  const tar = new Deno.Command(...tarArgs(tarCreateSpec(dir.path, [], true))).spawn();
  let bytes = 0;
  for await (const chunk of tar.stdout) bytes += chunk.length;
  await tar.status;
  assertEquals(tarSizeEstimate(scan), bytes);
});

function tarArgs(spec: ChildSpec): [string, Deno.CommandOptions] {
  return [spec.program, { args: [...spec.args], stdout: "piped", stderr: "null" }];
}
