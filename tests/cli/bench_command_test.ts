/**
 * `kad bench chain` runs real deployments (on the netlab when root, on loopback otherwise) and
 * reports one verified row per node count; `kad serve --bench` with `kad bench link` measures a link.
 */

import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { join } from "node:path";

const variant = kadVariants()[0];

Deno.test("bench: chain for N = 1 and 3 → two verified rows, JSON lines, and an SVG plot", async () => {
  await using dir = await tempDir();
  const plot = join(dir.path, "chain.svg");
  const r = await new KadProcess(variant, [
    "bench",
    "chain",
    "--nodes",
    "1,3",
    "--size",
    "4MB",
    "--json",
    "--plot",
    plot,
  ])
    .result();
  assertEquals(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(rows.map((row) => row.nodes), [1, 3]);
  for (const row of rows) {
    assertEquals(row.ok, true);
    assertEquals(row.protection, "sealed");
    assert(row.mbPerSecond > 0);
    assert(row.peakRssBytes > 0);
  }
  assertMatch(await Deno.readTextFile(plot), /^<svg [^]*<polyline [^]*<\/svg>\n$/);
});

Deno.test("bench: link against `kad serve --bench` → measured and verified", async () => {
  const server = new KadServer(variant, ["--bench", "20MB", "--clients", "1", "--timeout", "10"]);
  const port = await server.port;
  const r = await new KadProcess(variant, ["bench", "link", "--server", `127.0.0.1:${port}`]).result();
  assertEquals(r.code, 0, r.stderr);
  assertMatch(
    r.stdout,
    /^link 127\.0\.0\.1:\d+: 20\.0 MB in [\d.]+ s = [\d.]+ MB\/s \(\d+ Mbit\/s\), verified\n$/,
  );
  assertEquals((await server.result()).code, 0);
});

Deno.test("bench: chain --insecure → the server and the nodes run without a token, as the report says", async () => {
  const r = await new KadProcess(variant, [
    "bench",
    "chain",
    "--nodes",
    "2",
    "--size",
    "4MB",
    "--json",
    "--insecure",
  ])
    .result();
  assertEquals(r.code, 0, r.stderr);
  const [row] = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals([row.ok, row.protection], [true, "none"]);
  assertMatch(r.stderr, /--insecure \(no token, plain frames\)/);
});

Deno.test("bench: chain with --tls, --ca or a token → usage error naming `kad bench link`, exit 2", async () => {
  for (const flag of [["--tls"], ["--ca", "ca.pem"], ["--token-file", "token"]]) {
    const r = await new KadProcess(variant, ["bench", "chain", ...flag]).result();
    assertEquals(r.code, 2, flag.join(" "));
    assertMatch(
      r.stderr,
      /^kad: --[a-z-]+ applies to `kad bench link`: a chain bench runs its own server/,
    );
  }
});

Deno.test("bench: bad mode and bad node lists → usage errors, exit 2", async () => {
  const bad = await new KadProcess(variant, ["bench", "tree"]).result();
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /Say what to measure: "chain" or "link"/);
  const list = await new KadProcess(variant, ["bench", "chain", "--nodes", "0,x"]).result();
  assertEquals(list.code, 2);
  assertMatch(list.stderr, /--nodes takes counts from 1 to 200/);
});
