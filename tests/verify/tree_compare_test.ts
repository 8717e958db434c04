import { join } from "node:path";
import { buildSampleTree } from "../../lib/verify/sample_tree.ts";
import { compareTrees } from "../../lib/verify/tree_compare.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

async function copyWithTar(from: string, to: string): Promise<void> {
  const cmd =
    `tar -C '${from}' -c --sparse --numeric-owner --xattrs --acls . | tar -C '${to}' -x --numeric-owner -p --same-owner`;
  const { code } = await new Deno.Command("sh", { args: ["-c", cmd] }).output();
  assertEquals(code, 0);
}

/** The sample tree in `dir/a` and a tar copy of it in `dir/b`. */
async function sampleAndCopy(dir: string): Promise<{ a: string; b: string }> {
  const a = join(dir, "a");
  const b = join(dir, "b");
  await Deno.mkdir(a);
  await Deno.mkdir(b);
  await buildSampleTree(a);
  await copyWithTar(a, b);
  return { a, b };
}

Deno.test("tree compare: a faithful tar copy of the sample tree is identical", async () => {
  await using dir = await tempDir();
  const { a, b } = await sampleAndCopy(dir.path);
  assertEquals(await compareTrees(a, b), []);
});

Deno.test("tree compare: content, mode, link target and missing files are each detected", async () => {
  await using dir = await tempDir();
  const { a, b } = await sampleAndCopy(dir.path);
  await Deno.writeTextFile(join(b, "etc", "conf.d", "kad.conf"), "# kad sampl!\nchain = true\n");
  await Deno.chmod(join(b, "setuid-4755"), 0o755);
  await Deno.remove(join(b, "relative-link"));
  await Deno.symlink("elsewhere", join(b, "relative-link"));
  await Deno.remove(join(b, "empty-dir"));
  const diffs = await compareTrees(a, b);
  const text = diffs.map((d) => `${d.path}: ${d.what}`).join("\n");
  assert(text.includes("kad.conf: content differs"), text);
  assert(text.includes("setuid-4755: mode 4755 ≠ 0755"), text);
  assert(text.includes('relative-link: link target "etc/hostname" ≠ "elsewhere"'), text);
  assert(text.includes("empty-dir: missing in the clone"), text);
});

Deno.test("tree compare: a broken hardlink group is detected", async () => {
  await using dir = await tempDir();
  const { a, b } = await sampleAndCopy(dir.path);
  await Deno.remove(join(b, "etc", "hardlink-b"));
  await Deno.copyFile(join(b, "hardlink-a"), join(b, "etc", "hardlink-b"));
  await Deno.utime(
    join(b, "etc", "hardlink-b"),
    (await Deno.stat(join(a, "etc", "hardlink-b"))).mtime!,
    (await Deno.stat(join(a, "etc", "hardlink-b"))).mtime!,
  );
  await Deno.utime(
    join(b, "etc"),
    (await Deno.stat(join(a, "etc"))).mtime!,
    (await Deno.stat(join(a, "etc"))).mtime!,
  );
  const diffs = await compareTrees(a, b);
  assertEquals(diffs.map((d) => d.what), ["hardlink group not preserved"]);
});
