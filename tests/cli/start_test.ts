/**
 * The everyday paths with the defaults a user gets: every start mode with nodes that joined long
 * before the start, nodes started before the server, several nodes on one host without --name,
 * sinks that do not fit the stream, paths relative to where the user typed.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { freeLoopbackPort } from "../_helpers/raw_peer.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const variant = kadVariants().at(-1)!; // the bundle when built: what the binary embeds
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Five times the default stall timeout (3 s), and a bit. */
const LONG_BEFORE_MS = 16_000;

/** `kad serve ARGS` on `port` (no --json: as a person runs it), with stdin from a pipe or a terminal. */
function serveOn(port: number, args: string[], terminal = false): KadProcess {
  const serve = ["serve", ...args, "--listen", "127.0.0.1", "--port", String(port)];
  if (!terminal) return new KadProcess(variant, serve);
  // `script` gives the server a terminal, so Enter starts it
  const command = [...variant.argv, ...serve].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return new KadProcess(
    { name: `${variant.name} on a terminal`, argv: ["script", "-qfec", command, "/dev/null"] },
    [],
    { stdin: true },
  );
}

/** Two `kad join --null` nodes without --name, the second `gapMs` after the first. */
async function twoNodes(port: number, gapMs: number) {
  const first = startJoin(variant, port, null, ["--null"]);
  await sleep(gapMs);
  const second = startJoin(variant, port, null, ["--null"]);
  return await Promise.all([first.result(), second.result()]);
}

Deno.test("start modes: --clients, --wait, Enter and --min-clients, nodes joined 16 s before the start → all verified", async () => {
  const ports = [0, 1, 2, 3].map(() => freeLoopbackPort());
  const bench = ["--bench", "200MB"];
  const runs = [
    // --clients 2: the first node joins 16 s before the second
    (async () => {
      const server = serveOn(ports[0], [...bench, "--clients", "2"]);
      return {
        mode: "--clients",
        nodes: await twoNodes(ports[0], LONG_BEFORE_MS),
        server: await server.result(),
      };
    })(),
    // --wait: both join at once, the start comes 16 s later
    (async () => {
      const server = serveOn(ports[1], [...bench, "--wait", String(LONG_BEFORE_MS / 1000)]);
      return { mode: "--wait", nodes: await twoNodes(ports[1], 0), server: await server.result() };
    })(),
    // Enter on the server's terminal, 16 s after both joined
    (async () => {
      const server = serveOn(ports[2], bench, true);
      const nodes = twoNodes(ports[2], 0);
      await sleep(LONG_BEFORE_MS + 2000);
      await server.write(new TextEncoder().encode("\n"));
      return { mode: "Enter", nodes: await nodes, server: await server.result() };
    })(),
    // --min-clients 2 --wait 1: the first node waits 16 s for the second
    (async () => {
      const server = serveOn(ports[3], [...bench, "--min-clients", "2", "--wait", "1"]);
      return {
        mode: "--min-clients",
        nodes: await twoNodes(ports[3], LONG_BEFORE_MS),
        server: await server.result(),
      };
    })(),
  ];
  for (const run of await Promise.all(runs)) {
    assertEquals(run.server.code, 0, `${run.mode}:\n${run.server.stdout}\n${run.server.stderr}`);
    assertMatch(run.server.stdout, /2 node\(s\): 2 ok, 0 failed — all verified/, run.mode);
    for (const node of run.nodes) assertEquals(node.code, 0, `${run.mode}: ${node.stderr}`);
  }
});

Deno.test("start order: a node started before its server waits, says so, and gets a verified copy", async () => {
  const port = freeLoopbackPort();
  const node = startJoin(variant, port, null, ["--null"]);
  await sleep(3000);
  const server = serveOn(port, ["--bench", "20MB", "--clients", "1"]);
  const [n, s] = await Promise.all([node.result(), server.result()]);
  assertEquals(s.code, 0, s.stderr);
  assertEquals(n.code, 0, n.stderr);
  assertMatch(
    n.stderr,
    new RegExp(`^kad: waiting for kad serve at 127\\.0\\.0\\.1:${port}… \\(0 s; .*Connection refused`, "m"),
  );
});

Deno.test("start order: --wait-server bounds the wait: 2 s → NNF after about 2 s", async () => {
  const port = freeLoopbackPort();
  const started = performance.now();
  const r = await startJoin(variant, port, null, ["--null"], ["--wait-server", "2"]).result();
  const seconds = (performance.now() - started) / 1000;
  assertEquals(r.code, 1, r.stderr);
  assertMatch(r.stderr, /^kad: waiting for kad serve at/m);
  assertMatch(
    r.stderr,
    /^kad: NNF: Cannot connect to server 127\.0\.0\.1:\d+ .*Connection refused.*; gave up after 2 s \(--wait-server\)\n$/m,
  );
  assert(seconds >= 1.9 && seconds < 6, `gave up after ${seconds} s`);
});

Deno.test("names: three nodes on one host without --name get unique names, both sides say so, all verified", async () => {
  const server = new KadServer(variant, ["--bench", "20MB", "--clients", "3"]);
  const port = await server.port;
  const nodes = [0, 1, 2].map(() => startJoin(variant, port, null, ["--null"]));
  const results = await Promise.all(nodes.map((n) => n.result()));
  const { code, report, stderr } = await server.result();
  assertEquals(code, 0, stderr);
  const host = Deno.hostname();
  assertEquals(report!.nodes.map((n) => n.name).sort(), [host, `${host}-2`, `${host}-3`]);
  const renamed = results.filter((r) => /the name .* was taken, so this node is /.test(r.stderr));
  assertEquals(renamed.length, 2, results.map((r) => r.stderr).join("\n"));
  for (const r of results) assertEquals(r.code, 0, r.stderr);
  const joined = server.events.filter((e) => e.event === "joined");
  assertEquals(joined.filter((e) => e.renamedFrom === host).length, 2);
});

Deno.test("names: a --name that is taken is refused with the hint; the server still starts with the others", async () => {
  const server = new KadServer(variant, ["--bench", "20MB", "--clients", "2"]);
  const port = await server.port;
  const first = startJoin(variant, port, "rack1", ["--null"]);
  await server.joined(1);
  const twin = await startJoin(variant, port, "rack1", ["--null"]).result();
  assertEquals(twin.code, 1);
  assertMatch(
    twin.stderr,
    /^kad: REFUSED: A node named rack1 has already joined: give this one another --name\n$/m,
  );
  const other = startJoin(variant, port, "rack2", ["--null"]);
  const [a, b] = await Promise.all([first.result(), other.result()]);
  assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
  assertEquals((await server.result()).code, 0);
});

Deno.test("stream kinds: --dd on a tar stream and --to on raw bytes refuse before one byte is written; --raw stores the tar", async () => {
  await using dir = await tempDir();
  const golden = join(dir.path, "golden");
  await Deno.mkdir(golden);
  await Deno.writeTextFile(join(golden, "hello"), "hello\n");
  const disk = join(dir.path, "disk.img");
  const untouched = new Uint8Array(4096).fill(0xa5);
  await Deno.writeFile(disk, untouched);
  const server = new KadServer(variant, [golden, "--clients", "1"]);
  const port = await server.port;
  const dd = await startJoin(variant, port, null, ["--dd", disk]).result();
  assertEquals(dd.code, 1, dd.stderr);
  assertMatch(
    dd.stderr,
    /^kad: REFUSED: The server streams tar of .*golden \(a tar archive\), but --dd writes raw bytes: use --to DIR to extract it, or add --raw to store the archive itself\n$/m,
  );
  assertEquals(await Deno.readFile(disk), untouched, "not one byte written");
  const refusal = server.events.find((e) => e.event === "refused");
  assertMatch(String(refusal?.reason), /--dd writes raw bytes/, "the server says why it refused the node");
  const kept = join(dir.path, "golden.tar");
  const raw = await startJoin(variant, port, null, ["--out", kept, "--raw"]).result();
  assertEquals(raw.code, 0, raw.stderr);
  assertEquals((await server.result()).code, 0);
  const listing = await new Deno.Command("tar", { args: ["-t", "-f", kept], stdout: "piped" }).output();
  assertMatch(new TextDecoder().decode(listing.stdout), /^\.\/hello$/m);

  const image = new KadServer(variant, ["--image", disk, "--clients", "1"]);
  const imagePort = await image.port;
  const target = join(dir.path, "target");
  await Deno.mkdir(target);
  const to = await startJoin(variant, imagePort, null, ["--to", target]).result();
  assertEquals(to.code, 1, to.stderr);
  assertMatch(
    to.stderr,
    /^kad: REFUSED: The server streams image .*disk\.img \(raw bytes, not a tar archive\), but --to extracts a tar: use --dd DEVICE or --out FILE/m,
  );
  assertEquals([...Deno.readDirSync(target)], []);
  image.process.kill("SIGTERM");
  await image.result();
});

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** This process's environment without what `deno task` or npm add. */
function shellEnv(): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.INIT_CWD;
  return env;
}

Deno.test("paths: `deno task kad` run from another directory takes paths relative to where the user typed", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(join(dir.path, "golden"));
  await Deno.writeTextFile(join(dir.path, "golden", "motd"), "hi\n");
  const port = freeLoopbackPort();
  const task = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "--config", join(ROOT, "deno.json"), "kad", ...args],
      cwd: dir.path,
      // as typed in a shell: no INIT_CWD yet (this suite itself may run under `deno task test`)
      env: { ...shellEnv(), NO_COLOR: "1", KAD_TOKEN: "kad-test-token-0123456789" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const server = task([
    "serve",
    "golden",
    "--clients",
    "1",
    "--listen",
    "127.0.0.1",
    "--port",
    String(port),
    "--report",
    "r.json",
  ]);
  const node = task(["join", "--server", `127.0.0.1:${port}`, "--out", "golden.tar", "--raw"]);
  const text = (o: Deno.CommandOutput) => new TextDecoder().decode(o.stderr);
  const served = await server.output();
  // a node waits for its server as long as it takes: once the server is gone, it has seconds
  // (the node is `deno task`'s child: found by its arguments)
  const timer = setTimeout(
    () => new Deno.Command("pkill", { args: ["-f", `--server 127.0.0.1:${port} `] }).spawn(),
    20_000,
  );
  const joined = await node.output().finally(() => clearTimeout(timer));
  assertEquals(served.code, 0, text(served));
  assertEquals(joined.code, 0, text(joined));
  assert(
    (await Deno.stat(join(dir.path, "golden.tar"))).size > 0,
    "--out golden.tar is where the user typed",
  );
  assert((await Deno.stat(join(dir.path, "r.json"))).isFile, "--report r.json too");
});

Deno.test("--verbose: the engine's debug lines (plan, admission) reach stderr; without it they do not", async () => {
  for (const verbose of [true, false]) {
    const server = new KadServer(variant, [
      "--bench",
      "1MB",
      "--clients",
      "1",
      ...(verbose ? ["--verbose"] : []),
    ]);
    const node = await startJoin(variant, await server.port, null, ["--null"], verbose ? ["--verbose"] : [])
      .result();
    const { code, stderr } = await server.result();
    assertEquals([code, node.code], [0, 0], stderr);
    const debug = /^\d\d:\d\d:\d\d\.\d{3} \[DBG\] kad\.server: Planned 1 nodes, fan-out 1/m;
    assertEquals(debug.test(stderr), verbose, stderr);
    assertEquals(/\[DBG\] kad\.admission: Accepted /.test(stderr), verbose, stderr);
    assertEquals(/\[DBG\] kad\.node: /.test(node.stderr) || !verbose, true, node.stderr);
  }
});

Deno.test("progress: a node that left early counts as failed, never as done, while the others stream", async () => {
  const server = new KadServer(variant, ["-", "--clients", "3", "--order", "name"], { stdin: true });
  const port = await server.port;
  const nodes = [
    startJoin(variant, port, "a", ["--null"]),
    startJoin(variant, port, "b", ["--cmd", "head -c 1000 >/dev/null", "--abort-on-sink-error"]),
    startJoin(variant, port, "c", ["--null"]),
  ];
  await server.joined(3);
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < 40; i++) {
    await server.process.write(chunk);
    await sleep(100);
  }
  await server.process.closeStdin();
  await Promise.all(nodes.map((n) => n.result()));
  await server.result();
  const progress = server.events.filter((e) => e.event === "progress");
  const late = progress.slice(-2, -1)[0]; // a second before the end: b is out, a and c still streaming
  assertEquals([late.nodesDone, late.nodesFailed, late.nodeCount], [0, 1, 3], JSON.stringify(progress));
});
