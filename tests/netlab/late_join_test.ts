/**
 * Late joiners on a switched network: a node that arrives mid-stream is grafted under the server,
 * catches up from the image read again while the chain goes on, and ends with a verified copy.
 * Needs root (namespaces, tc); skipped with the reason otherwise.
 */

import { join } from "node:path";
import { hashFile } from "../../lib/integrity/stream_hash.ts";
import { canBuildNetlab, Netlab } from "../../lib/netlab/netlab.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { inNamespace, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { writeRandomImage } from "../_helpers/random_image.ts";

const root = canBuildNetlab();
if (!root) console.warn("late join netlab tests SKIPPED: they need root and iproute2 (ip, tc)");
const variant = kadVariants()[0];
const MB = 1_000_000;

Deno.test({
  name:
    "late join: node 4 of 4 arrives at ~40 % of a 200 Mbit/s image stream → grafted under the server, all 4 verified",
  ignore: !root,
  fn: async () => {
    await using dir = await tempDir();
    const image = join(dir.path, "disk.img");
    await writeRandomImage(image, 150 * MB);
    await using lab = await Netlab.create({ hosts: 5, shape: { rate: "200mbit" } });
    const [serverHost, ...nodeHosts] = lab.hosts;
    const server = new KadServer(inNamespace(variant, serverHost.namespace), [
      "--image",
      image,
      "--clients",
      "3",
    ], {
      listenHost: "0.0.0.0",
    });
    const port = await server.port;
    const place = { serverHost: serverHost.address, listen: "0.0.0.0:0" };
    const copy = (i: number) => join(dir.path, `copy-${i}`);
    const start = (i: number) =>
      startJoin(inNamespace(variant, nodeHosts[i].namespace), port, null, ["--out", copy(i)], [], place);
    const joins = [0, 1, 2].map(start);
    // the stream takes ~6 s at 200 Mbit/s: the fourth node comes when ~40 % has gone by
    for (;;) {
      const progress = server.events.filter((e) => e.event === "progress").at(-1);
      if ((progress?.bytes as number ?? 0) >= 60 * MB) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    joins.push(start(3));
    const results = await Promise.all(joins.map((j) => j.result()));
    const { code, report } = await server.result();
    for (const r of results) assertEquals(r.code, 0, r.stderr);
    assertEquals(code, 0);
    assertEquals(report!.nodes.length, 4);
    const late = report!.nodes[3];
    assertEquals([late.position, late.upstream, late.status], [4, "server", "ok"]);
    const grafted = server.events.find((e) => e.event === "grafted")!;
    assertEquals([grafted.name, grafted.offset, grafted.error], [late.name, 0, null]);
    assert((grafted.resent as number) >= 60 * MB, `it caught up what it missed: ${grafted.resent} bytes`);
    const want = await hashFile(image, "sha256");
    for (let i = 0; i < 4; i++) assertEquals(await hashFile(copy(i), "sha256"), want, `copy ${i + 1}`);
  },
});
