import { join } from "node:path";
import { scanTree } from "../../lib/source/tree_scan.ts";
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
