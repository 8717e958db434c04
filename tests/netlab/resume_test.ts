/**
 * A node killed mid-stream comes back and takes up its copy: the server feeds it only what it
 * lacks, and it ends verified like the others. Needs root (namespaces, tc); skipped otherwise.
 */

import { join } from "node:path";
import { hashFile } from "../../lib/integrity/stream_hash.ts";
import { canBuildNetlab, Netlab } from "../../lib/netlab/netlab.ts";
import { partialPathOf, resumeRecordPath } from "../../lib/sink/resume_record.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { inNamespace, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { writeRandomImage } from "../_helpers/random_image.ts";

const root = canBuildNetlab();
if (!root) console.warn("resume netlab tests SKIPPED: they need root and iproute2 (ip, tc)");
const variant = kadVariants()[0];
const MB = 1_000_000;
const SIZE = 150 * MB;

Deno.test({
  name: "resume: kill -9 node 3 of 6 at 50 %, restart it → all 6 ok, node 3 fed only the missing half",
  ignore: !root,
  fn: async () => {
    await using dir = await tempDir();
    const image = join(dir.path, "disk.img");
    await writeRandomImage(image, SIZE);
    await using lab = await Netlab.create({ hosts: 7, shape: { rate: "200mbit" } });
    const [serverHost, ...nodeHosts] = lab.hosts;
    const server = new KadServer(inNamespace(variant, serverHost.namespace), [
      "--image",
      image,
      "--clients",
      "6",
    ], {
      listenHost: "0.0.0.0",
    });
    const port = await server.port;
    const copy = (i: number) => join(dir.path, `copy-${i}`);
    const start = (i: number) =>
      startJoin(inNamespace(variant, nodeHosts[i].namespace), port, null, ["--out", copy(i)], [], {
        serverHost: serverHost.address,
        listen: "0.0.0.0:0",
      });
    const joins = [];
    for (let i = 0; i < 6; i++) {
      joins.push(start(i));
      await server.joined(i + 1);
    }
    // node 3 is killed outright once half the image is in its partial copy
    while (((await Deno.stat(partialPathOf(copy(2))).catch(() => null))?.size ?? 0) < SIZE / 2) {
      await new Promise((r) => setTimeout(r, 20));
    }
    joins[2].kill("SIGKILL");
    assertEquals((await joins[2].result()).code, 137);
    const kept = (await Deno.stat(partialPathOf(copy(2)))).size;
    joins[2] = start(2); // the same command again, as an operator or a reboot would
    const results = await Promise.all(joins.map((j) => j.result()));
    const { code, report } = await server.result();
    for (const r of results) assertEquals(r.code, 0, r.stderr);
    assertEquals(code, 0);
    const third = report!.nodes[2];
    assertEquals([third.position, third.status, third.upstream], [3, "ok", "server"]);
    const repair = report!.repairs.find((r) => r.failed === third.name && r.child === third.name)!;
    assert(repair.offset! >= SIZE / 2 - 2 * MB && repair.offset! <= kept, `resumed at ${repair.offset}`);
    assert(repair.resentBytes < SIZE / 2, `only the missing half was sent again: ${repair.resentBytes}`);
    assertEquals(repair.error, null);
    const want = await hashFile(image, "sha256");
    for (let i = 0; i < 6; i++) assertEquals(await hashFile(copy(i), "sha256"), want, `copy ${i + 1}`);
    const leftovers = await Promise.all(
      [partialPathOf(copy(2)), resumeRecordPath(copy(2))].map((p) => Deno.stat(p).then(() => p, () => null)),
    );
    assertEquals(leftovers, [null, null], "the partial copy and its record are gone once verified");
  },
});
