import { join } from "node:path";
import { writeCpio } from "../../netboot/cpio.ts";
import { assertEquals, assertRejects } from "../_helpers/assert.ts";
import { hasTool as hasCommand } from "../../lib/process/host_tool.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const hasCpio = hasCommand("cpio");
if (!hasCpio) console.warn("cpio: the GNU cpio spec is skipped: cpio is not installed");

async function archive(entries: Parameters<typeof writeCpio>[0]): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeCpio(entries, { write: (chunk) => Promise.resolve(void chunks.push(chunk.slice())) });
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
}

Deno.test({
  name:
    "cpio: GNU cpio unpacks a newc archive with directories, files, a symlink and odd sizes byte for byte",
  ignore: !hasCpio,
  fn: async () => {
    await using dir = await tempDir();
    const sizes = [0, 1, 3, 4, 5, 4099];
    const bytes = await archive([
      { kind: "dir", path: "etc" },
      ...sizes.map((n) => ({
        kind: "file" as const,
        path: `etc/f${n}`,
        data: new Uint8Array(n).map((_, i) => i * 7),
        mode: 0o640,
      })),
      { kind: "symlink", path: "etc/link", target: "f5" },
      { kind: "file", path: "init", data: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o755 },
    ]);
    assertEquals(bytes.length % 4, 0);
    const child = new Deno.Command("cpio", { args: ["-i", "-d", "--quiet"], cwd: dir.path, stdin: "piped" })
      .spawn();
    const writer = child.stdin.getWriter();
    await writer.write(bytes);
    await writer.close();
    assertEquals((await child.status).success, true);
    for (const n of sizes) {
      assertEquals(
        await Deno.readFile(join(dir.path, "etc", `f${n}`)),
        new Uint8Array(n).map((_, i) => i * 7),
      );
      assertEquals((await Deno.stat(join(dir.path, "etc", `f${n}`))).mode! & 0o777, 0o640);
    }
    assertEquals(await Deno.readLink(join(dir.path, "etc", "link")), "f5");
    assertEquals((await Deno.stat(join(dir.path, "init"))).mode! & 0o777, 0o755);
  },
});

Deno.test("cpio: absolute or empty paths are refused", async () => {
  await assertRejects(() => archive([{ kind: "dir", path: "/etc" }]), RangeError);
  await assertRejects(() => archive([{ kind: "file", path: "", data: new Uint8Array(1) }]), RangeError);
});
