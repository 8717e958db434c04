/**
 * `kad serve --compress zstd[:LEVEL]`: the stream is compressed once at the source, relayed as it
 * is, and every node's sink gets the source's own bytes; the report gives both sizes. Real zstd,
 * tar and files.
 */

import { join } from "node:path";
import { buildSampleTree } from "../../lib/verify/sample_tree.ts";
import { compareTrees } from "../../lib/verify/tree_compare.ts";
import { hashFile } from "../../lib/integrity/stream_hash.ts";
import { hasTool } from "../../lib/process/host_tool.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { deploy, KadProcess, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { ChaosRun } from "../_helpers/chaos.ts";

const variant = kadVariants().at(-1)!;
const ignore = !hasTool("zstd");
if (ignore) console.log("compress specs SKIPPED: no zstd tool (apt-get install zstd)");

Deno.test({
  name:
    "compress: a directory served --compress zstd to 3 nodes → identical trees, raw and wire bytes reported",
  ignore,
  fn: async () => {
    await using dir = await tempDir();
    const source = join(dir.path, "source");
    await buildSampleTree(source);
    // text compresses: the wire must carry fewer bytes than the tree's tar
    await Deno.writeTextFile(join(source, "words.txt"), "kad clones one machine onto many\n".repeat(100_000));
    const targets = [1, 2, 3].map((i) => join(dir.path, `target-${i}`));
    for (const t of targets) await Deno.mkdir(t);
    const { server, nodes } = await deploy(
      variant,
      [source, "--compress", "zstd"],
      targets.map((t) => ["--to", t]),
    );
    assertEquals(server.code, 0, server.stderr);
    for (const node of nodes) assertEquals(node.code, 0, node.stderr);
    for (const target of targets) assertEquals(await compareTrees(source, target), []);
    const report = server.report!;
    assertEquals(report.compression, "zstd:3");
    assert(report.rawBytes! > 3_300_000, `raw ${report.rawBytes}`);
    assert(report.bytes < report.rawBytes! / 4, `wire ${report.bytes} of raw ${report.rawBytes}`);
    assert(report.nodes.every((n) => n.status === "ok" && n.bytes === report.bytes));
  },
});

Deno.test({
  name: "compress: an image --compress zstd:1 to --out files → byte-identical copies",
  ignore,
  fn: async () => {
    await using dir = await tempDir();
    const image = join(dir.path, "disk.img");
    const data = new Uint8Array(12 * 2 ** 20);
    // 4 MiB that do not compress, 8 that do
    for (let at = 0; at < 4 * 2 ** 20; at += 65536) crypto.getRandomValues(data.subarray(at, at + 65536));
    await Deno.writeFile(image, data);
    const outs = [1, 2].map((i) => join(dir.path, `copy-${i}.img`));
    const server = new KadServer(variant, ["--image", image, "--compress", "zstd:1", "--clients", "2"]);
    const port = await server.port;
    const joins = outs.map((out) => startJoin(variant, port, null, ["--out", out]).result());
    const [result, ...nodes] = await Promise.all([server.result(), ...joins]);
    assertEquals(result.code, 0, result.stderr);
    for (const node of nodes) assertEquals(node.code, 0, node.stderr);
    for (const out of outs) assertEquals(await hashFile(out), await hashFile(image));
    assertEquals(result.report!.rawBytes, data.length);
  },
});

Deno.test({
  name: "compress: a bad --compress value → one usage line, exit 2",
  ignore,
  fn: async () => {
    for (const value of ["gzip", "zstd:0", "zstd:20", "zstd:x"]) {
      const r = await new KadProcess(variant, [
        "serve",
        "--bench",
        "1MB",
        "--clients",
        "1",
        "--compress",
        value,
      ]).result();
      assertEquals(r.code, 2, value);
      assertMatch(
        r.stderr,
        /^kad: Option --compress: Compression is zstd or zstd:LEVEL with a level from 1 to 19, got "/,
      );
    }
  },
});

Deno.test({
  name:
    "compress: a node's sink that dies mid-stream fails that node (LWF), not the decompressor's pipe into a hang",
  ignore,
  fn: async () => {
    const server = new KadServer(variant, ["--bench", "64MB", "--compress", "zstd", "--clients", "1"]);
    const node = await startJoin(variant, await server.port, null, ["--cmd", "head -c 1000 >/dev/null"])
      .result();
    const { code, report } = await server.result();
    assertEquals([code, node.code], [1, 1], node.stderr);
    assertEquals(report!.nodes[0].error?.code, "LWF");
  },
});

Deno.test({
  name:
    "compress: a node without the zstd tool is refused when it joins, with what to install; the others go on",
  ignore,
  fn: async () => {
    await using dir = await tempDir(); // an empty PATH: this node has no zstd (nor anything else)
    const server = new KadServer(variant, ["--bench", "8MB", "--compress", "zstd", "--clients", "1"]);
    const port = await server.port;
    const bare = await new KadProcess(variant, [
      "join",
      "--server",
      `127.0.0.1:${port}`,
      "--listen",
      "127.0.0.1:0",
      "--null",
    ], { env: { PATH: dir.path } }).result();
    assertEquals(bare.code, 1, bare.stderr);
    assertMatch(
      bare.stderr,
      /compressed with zstd, and this node has no zstd tool to decompress it: apt-get install zstd/,
    );
    const node = await startJoin(variant, port, null, ["--null"]).result();
    const { code, report } = await server.result();
    assertEquals([code, node.code], [0, 0], node.stderr);
    assertEquals(report!.nodes.map((n) => n.status), ["ok"]);
  },
});

Deno.test({
  name:
    "compress: node 2 of 3 killed -9 mid-stream → node 3 is repaired in the compressed stream, its copy identical",
  ignore,
  fn: async () => {
    await using run = new ChaosRun(variant, { names: ["a", "b", "c"], serveArgs: ["--compress", "zstd"] });
    await run.start();
    await run.feed((fraction) => {
      if (fraction >= 0.5 && fraction < 0.55) run.nodes.b.kill("SIGKILL");
    });
    const { byName, report } = await run.outcome(); // every node reported ok holds exactly the source
    assertEquals([byName.a.status, byName.b.status, byName.c.status], ["ok", "failed", "ok"]);
    assertEquals(report.repairs.find((r) => r.child === "c")?.upstream, "a");
    assertEquals(report.compression, "zstd:3");
  },
});
