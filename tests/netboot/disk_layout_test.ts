import { join } from "node:path";
import { captureLayout, portableLayout } from "../../netboot/disk_layout.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { hasTool as hasCommand } from "../../lib/process/host_tool.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const hasSfdisk = hasCommand("sfdisk");
if (!hasSfdisk) {
  console.warn("disk layout: the capture spec is skipped: sfdisk is not installed (apt-get install fdisk)");
}

Deno.test("disk layout: an MBR dump loses its label id and device names, keeps types and the boot flag", () => {
  const dump = [
    "label: dos",
    "label-id: 0x7f6d313e",
    "device: /dev/sda",
    "unit: sectors",
    "sector-size: 512",
    "",
    "/dev/sda1 : start=        2048, size=       65536, type=83, bootable",
    "/dev/sda2 : start=       67584, size=       63488, type=82",
    "",
  ].join("\n");
  assertEquals(
    portableLayout(dump),
    "label: dos\nunit: sectors\nsector-size: 512\n\nstart=2048, size=65536, type=83, bootable\nstart=67584, size=63488, type=82\n",
  );
});

Deno.test("disk layout: a GPT dump loses its disk and partition UUIDs and last-lba, keeps names", () => {
  const dump = [
    "label: gpt",
    "label-id: 2EBB1AA7-5B4A-164D-903E-663AAE104B98",
    "device: /dev/nvme0n1",
    "unit: sectors",
    "first-lba: 2048",
    "last-lba: 131038",
    "",
    '/dev/nvme0n1p1 : start=        2048, size=       65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=EC81308A-367F-FA4C-A5CD-ECA7931FC670, name="root"',
  ].join("\n");
  assertEquals(
    portableLayout(dump),
    'label: gpt\nunit: sectors\nfirst-lba: 2048\n\nstart=2048, size=65536, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n',
  );
});

Deno.test({
  name:
    "disk layout: captured from a partitioned disk image, the layout partitions another image the same way",
  ignore: !hasSfdisk,
  fn: async () => {
    await using dir = await tempDir();
    const [source, node] = [join(dir.path, "source.img"), join(dir.path, "node.img")];
    for (const image of [source, node]) {
      await Deno.writeFile(image, new Uint8Array(0));
      await Deno.truncate(image, 64 * 1024 * 1024);
    }
    await sfdisk([source], "label: gpt\n\nsize=32M, type=linux, name=root\ntype=swap\n");
    const layout = await captureLayout(source);
    await sfdisk([node], layout);
    const uuids = /(?<=uuid=)[0-9A-F-]+/g;
    const strip = (dump: string) => dump.replace(/^(label-id|device):.*\n/gm, "").replace(uuids, "U");
    const [a, b] = [await sfdisk(["--dump", source]), await sfdisk(["--dump", node])];
    assertEquals(strip(b).replaceAll("node.img", "X"), strip(a).replaceAll("source.img", "X"));
    const fresh = b.match(uuids)!;
    assertEquals(fresh.length, 2);
    for (const uuid of fresh) assert(!a.includes(uuid), "the node's partitions get their own UUIDs");
  },
});

async function sfdisk(args: string[], input = ""): Promise<string> {
  const child = new Deno.Command("sfdisk", {
    args: ["-q", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (!success) throw new Error(new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout);
}
