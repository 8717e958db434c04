/**
 * Black-box deployments: real `kad serve` and `kad join` processes on loopback, real tar and dd,
 * run from source and from the bundle.
 */

import { join } from "node:path";
import { buildSampleTree } from "../../lib/verify/sample_tree.ts";
import { compareTrees } from "../../lib/verify/tree_compare.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { deploy, KadProcess, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

/** Creates `dir/source` with a small tree and returns its path. */
async function smallSource(dir: string): Promise<string> {
  const root = join(dir, "source");
  await Deno.mkdir(join(root, "etc"), { recursive: true });
  await Deno.writeTextFile(join(root, "etc", "hostname"), "golden\n");
  await Deno.writeFile(join(root, "blob.bin"), crypto.getRandomValues(new Uint8Array(65536)));
  return root;
}

async function nodeDirs(root: string, n: number): Promise<string[]> {
  const dirs = Array.from({ length: n }, (_, i) => join(root, `node-${i + 1}`));
  for (const d of dirs) await Deno.mkdir(d);
  return dirs;
}

for (const variant of kadVariants()) {
  const t = (name: string) => `cli (${variant.name}): ${name}`;

  for (const n of [1, 3, 8]) {
    Deno.test(t(`chain of ${n} node(s) → every clone identical, report all ok, exit 0`), async () => {
      await using dir = await tempDir();
      const source = await smallSource(dir.path);
      const targets = await nodeDirs(dir.path, n);
      const reportFile = join(dir.path, "report.json");
      const { server, nodes } = await deploy(
        variant,
        [source, "--report", reportFile],
        targets.map((d) => ["--to", d]),
      );
      assertEquals(server.code, 0, server.stderr);
      for (const node of nodes) assertEquals(node.code, 0, node.stderr);
      for (const target of targets) assertEquals(await compareTrees(source, target), []);
      const report = JSON.parse(await Deno.readTextFile(reportFile));
      assertEquals(report.nodes.length, n);
      assert(report.bytes > 65536);
      for (const node of report.nodes) {
        assertEquals(node.status, "ok");
        assertEquals(node.error, null);
        assertEquals(node.bytes, report.bytes);
        assertEquals(node.hash, report.hash);
        for (const key of ["name", "address", "position", "seconds"]) assert(key in node, key);
      }
    });
  }

  Deno.test(
    t("tricky tree with a 64 MiB file → sparse, links, modes, owners, names all cloned"),
    async () => {
      await using dir = await tempDir();
      const source = join(dir.path, "source");
      await Deno.mkdir(source);
      await buildSampleTree(source, { largeFileBytes: 64 * 1024 * 1024 });
      const targets = await nodeDirs(dir.path, 2);
      const { server } = await deploy(variant, [source], targets.map((d) => ["--to", d]));
      assertEquals(server.code, 0, server.stderr);
      for (const target of targets) {
        assertEquals(await compareTrees(source, target), []);
        const sparse = await Deno.stat(join(target, "sparse.img"));
        assert(sparse.blocks! * 512 < sparse.size / 4, "the sparse file stays sparse");
      }
    },
  );

  Deno.test(t("dd of a 64 MiB image to 2 nodes → byte-identical files"), async () => {
    await using dir = await tempDir();
    const image = join(dir.path, "disk.img");
    const data = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
    await Deno.writeFile(image, data);
    const outs = [join(dir.path, "a.img"), join(dir.path, "b.img")];
    const { server } = await deploy(variant, ["--image", image], outs.map((o) => ["--dd", o]));
    assertEquals(server.code, 0, server.stderr);
    assertEquals(server.report!.bytes, data.length);
    for (const out of outs) assertEquals(await Deno.readFile(out), data);
  });

  Deno.test(t("--out FILE and --cmd receive the raw stream"), async () => {
    await using dir = await tempDir();
    const image = join(dir.path, "img");
    await Deno.writeFile(image, crypto.getRandomValues(new Uint8Array(50_000)));
    const out = join(dir.path, "out.img");
    const viaCmd = join(dir.path, "cmd.img");
    const { server } = await deploy(variant, ["--image", image], [["--out", out], [
      "--cmd",
      `cat > '${viaCmd}'`,
    ]]);
    assertEquals(server.code, 0, server.stderr);
    assertEquals(await Deno.readFile(out), await Deno.readFile(image));
    assertEquals(await Deno.readFile(viaCmd), await Deno.readFile(image));
  });

  Deno.test(t("stdin source with --cmd that decompresses → each node gets the tree"), async () => {
    await using dir = await tempDir();
    const source = await smallSource(dir.path);
    const targets = await nodeDirs(dir.path, 2);
    const tgz =
      (await new Deno.Command("tar", { args: ["-C", source, "-cz", "."], stdout: "piped" }).output()).stdout;
    const server = new KadServer(variant, ["-", "--clients", "2", "--timeout", "20"], { stdin: true });
    const port = await server.port;
    const joins = targets.map((d, i) =>
      startJoin(variant, port, `n${i}`, ["--cmd", `gzip -dc | tar -x -C '${d}'`])
    );
    await server.joined(2);
    await server.process.write(tgz);
    await server.process.closeStdin();
    const results = await Promise.all(joins.map((j) => j.result()));
    assertEquals((await server.result()).code, 0);
    for (const r of results) assertEquals(r.code, 0, r.stderr);
    for (const d of targets) {
      assertEquals(await Deno.readTextFile(join(d, "etc", "hostname")), "golden\n");
    }
  });

  Deno.test(t("fan-out 2 with 7 nodes → a binary tree, all identical"), async () => {
    await using dir = await tempDir();
    const source = await smallSource(dir.path);
    const targets = await nodeDirs(dir.path, 7);
    const { server } = await deploy(variant, [source, "--fanout", "2"], targets.map((d) => ["--to", d]));
    assertEquals(server.code, 0, server.stderr);
    const report = server.report!;
    assertEquals(report.fanout, 2);
    assertEquals(report.nodes.filter((n) => n.upstream === "server").length, 2);
    for (const target of targets) assertEquals(await compareTrees(source, target), []);
  });

  Deno.test(t("one node's tar fails → that node LWF with tar's own message, the others ok"), async () => {
    await using dir = await tempDir();
    const source = await smallSource(dir.path);
    const targets = await nodeDirs(dir.path, 3);
    const server = new KadServer(variant, [source, "--clients", "3", "--timeout", "20"]);
    const port = await server.port;
    const first = startJoin(variant, port, "node-1", ["--to", targets[0]]);
    const broken = startJoin(variant, port, "node-2", ["--to", targets[1]]);
    await server.joined(2);
    await Deno.remove(targets[1]); // tar -x -C will fail with its own message
    const last = startJoin(variant, port, "node-3", ["--to", targets[2]]);
    const [r1, r2, r3] = await Promise.all([first.result(), broken.result(), last.result()]);
    const { code, report } = await server.result();
    assertEquals(code, 1);
    assertEquals(r1.code, 0);
    assertEquals(r3.code, 0, "the node behind the failed one still gets its copy");
    assertEquals(r2.code, 1);
    const failed = report!.nodes.find((n) => n.name === "node-2")!;
    assertEquals(failed.status, "failed");
    assertEquals(failed.error!.code, "LWF");
    assertMatch(failed.error!.message, /tar -x exited with status 2: .*node-2.*No such file or directory/);
    assertEquals(await compareTrees(source, targets[2]), []);
  });

  Deno.test(
    t("late joiner while the stream's start is still in the server's ring → taken, both copies verified"),
    async () => {
      await using dir = await tempDir();
      const targets = await nodeDirs(dir.path, 2);
      await Deno.mkdir(join(dir.path, "golden/etc"), { recursive: true });
      await Deno.writeTextFile(join(dir.path, "golden/etc/hostname"), "golden\n");
      const server = new KadServer(variant, ["-", "--tar", "--clients", "1"], { stdin: true });
      const port = await server.port;
      const early = startJoin(variant, port, null, ["--to", targets[0]]);
      await server.joined(1);
      while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
      const late = startJoin(variant, port, null, ["--to", targets[1]]);
      while (!server.events.some((e) => e.event === "grafted")) await new Promise((r) => setTimeout(r, 20));
      await server.process.write(
        (await new Deno.Command("tar", { args: ["-C", dir.path, "-c", "golden"], stdout: "piped" }).output())
          .stdout,
      );
      await server.process.closeStdin();
      assertEquals((await early.result()).code, 0);
      assertEquals((await late.result()).code, 0);
      const { code, report } = await server.result();
      assertEquals(code, 0);
      assertEquals(report!.nodes.map((n) => [n.position, n.upstream, n.status]), [[1, "server", "ok"], [
        2,
        "server",
        "ok",
      ]]);
      for (const target of targets) {
        assertEquals(await compareTrees(join(dir.path, "golden"), join(target, "golden")), []);
      }
    },
  );

  Deno.test(
    t("late joiner once the stream's first bytes are gone → refused saying why, exit 1; the deployment goes on"),
    async () => {
      const server = new KadServer(variant, ["-", "--clients", "1"], { stdin: true });
      const port = await server.port;
      const early = startJoin(variant, port, null, ["--null"]);
      await server.joined(1);
      // more than the server's ring (32 MiB) goes by: its first byte is no longer held
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 48; i++) await server.process.write(chunk);
      while (
        ((server.events.filter((e) => e.event === "progress").at(-1)?.bytes as number) ?? 0) < 40 << 20
      ) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const late = await startJoin(variant, port, null, ["--null"]).result();
      assertEquals(late.code, 1);
      assertMatch(
        late.stderr,
        /^kad: REFUSED: Deployment already started and its first bytes are gone \(standard input cannot be read again\): node \S+ is too late\. To take late joiners, serve an --image file or block device, or give kad serve a --ring larger than the stream\n$/,
      );
      await server.process.closeStdin();
      assertEquals((await early.result()).code, 0);
      assertEquals((await server.result()).code, 0);
    },
  );

  Deno.test(t("--late-joins no → a late joiner is refused even when it could be fed"), async () => {
    const server = new KadServer(variant, ["--bench", "1GB", "--clients", "1", "--late-joins", "no"]);
    const port = await server.port;
    const early = startJoin(variant, port, null, ["--null"]);
    while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
    const late = await startJoin(variant, port, null, ["--null"]).result();
    assertEquals(late.code, 1);
    assertMatch(
      late.stderr,
      /REFUSED: Deployment already started: node \S+ is too late \(kad serve --late-joins no\)/,
    );
    assertEquals((await early.result()).code, 0);
    assertEquals((await server.result()).code, 0);
  });
}

for (const variant of kadVariants()) {
  const t = (name: string) => `cli (${variant.name}): ${name}`;

  Deno.test(t("the source vanishes before the start → every node fails LRF with the reason"), async () => {
    await using dir = await tempDir();
    const source = join(dir.path, "source");
    await Deno.mkdir(source);
    const server = new KadServer(variant, [source, "--clients", "2", "--timeout", "20"]);
    const port = await server.port;
    await Deno.remove(source);
    const nodes = await Promise.all(["a", "b"].map((n) => startJoin(variant, port, n, ["--null"]).result()));
    const { code, report } = await server.result();
    assertEquals(code, 1);
    assertEquals(report!.error!.code, "LRF");
    assertMatch(
      report!.error!.message,
      /^Source failed: Cannot serve ".*source": no such file or directory$/,
    );
    for (const node of report!.nodes) assertEquals(node.error!.code, "LRF");
    for (const node of nodes) {
      assertEquals(node.code, 1);
      assertMatch(
        node.stderr,
        /failed LRF: Source failed: Cannot serve ".*source": no such file or directory/,
      );
    }
  });

  Deno.test(
    t("--json writes joined, planned, progress, node-done and done events, each with its time"),
    async () => {
      const server = new KadServer(variant, ["--bench", "300MB", "--clients", "1"]);
      const port = await server.port;
      const node = await startJoin(variant, port, null, ["--null"], ["--json"]).result();
      assertEquals((await server.result()).code, 0);
      const kinds = new Set(server.events.map((e) => e.event));
      for (const kind of ["listening", "joined", "planned", "node-done", "done"]) {
        assert(kinds.has(kind), kind);
      }
      const nodeEvents = node.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assertEquals(nodeEvents[0].event, "listening");
      assertEquals(nodeEvents.at(-1).event, "done");
      for (const events of [server.events, nodeEvents]) {
        const times = events.map((e) => e.t);
        assert(
          times.every((t, i) => Number.isFinite(t) && t >= 0 && (i === 0 || t >= times[i - 1])),
          "t grows",
        );
        assert(times.every((t) => Math.round(t * 1000) / 1000 === t), `t has 3 decimals: ${times}`);
      }
    },
  );

  Deno.test(t("kad demo --nodes 2 → both clones identical, exit 0"), async () => {
    const demo = await new KadProcess(variant, ["demo", "--nodes", "2"]).result();
    assertEquals(demo.code, 0, demo.stderr);
    assertMatch(demo.stdout, /check node-1: identical/);
    assertMatch(demo.stdout, /all 2 clone\(s\) are identical to the source/);
  });
}
