/**
 * Security specs, end to end with real processes on loopback: who may join, who may feed a node,
 * what a recorded handshake is worth, and that idle connections keep nobody out.
 */

import { join } from "node:path";
import { encodeJsonFrame, FLAG_MAC, FrameType, writeHeader } from "../../lib/protocol/frame.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants, startJoin, TEST_TOKEN } from "../_helpers/kad_cli.ts";
import { concatBytes, markedPayload, readFrame, RecordingProxy } from "../_helpers/raw_peer.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { hasTool } from "../../lib/process/host_tool.ts";

const variant = kadVariants()[0];
const MiB = 1 << 20;

Deno.test("security: a node with the wrong token is refused before any stream byte, with a clear message", async () => {
  const server = new KadServer(variant, ["--bench", "4MB", "--clients", "1", "--timeout", "10"]);
  const port = await server.port;
  await using proxy = new RecordingProxy({ host: "127.0.0.1", port });
  const wrong = await startJoin(variant, proxy.port, "intruder", ["--null"], [
    "--token",
    "not-the-token-at-all",
  ])
    .result();
  assertEquals(wrong.code, 1);
  assertMatch(
    wrong.stderr,
    /^kad: AUTH: server 127\.0\.0\.1:\d+ did not prove the join token: this node's token differs/m,
  );
  // the server said CHALLENGE (nonce, proof) and nothing else: no plan, no link, no stream
  assert(
    RecordingProxy.total(proxy.backward) < 512,
    `${RecordingProxy.total(proxy.backward)} bytes to the intruder`,
  );
  const real = await startJoin(variant, port, "real", ["--null"]).result();
  assertEquals(real.code, 0, real.stderr);
  const { code, report, stderr } = await server.result();
  assertEquals(code, 0);
  assertEquals(report!.nodes.map((n) => n.name), ["real"]);
  assertMatch(stderr, /refused intruder from 127\.0\.0\.1: Node intruder has another join token/);
});

Deno.test("security: a node without a token is refused by a server that has one; --insecure pairs only with --insecure", async () => {
  const server = new KadServer(variant, ["--bench", "1MB", "--clients", "1", "--timeout", "10"]);
  const port = await server.port;
  const tokenless = await startJoin(variant, port, "tokenless", ["--null"], ["--insecure"]).result();
  assertEquals(tokenless.code, 1);
  assertMatch(tokenless.stderr, /WARNING: --insecure/);
  assertMatch(tokenless.stderr, /^kad: AUTH: This server requires a join token/m);
  assertEquals((await startJoin(variant, port, "n1", ["--null"]).result()).code, 0);
  assertEquals((await server.result()).code, 0);

  const open = new KadServer(variant, ["--bench", "1MB", "--clients", "1", "--timeout", "10", "--insecure"]);
  const openPort = await open.port;
  const withToken = await startJoin(variant, openPort, "careful", ["--null"]).result();
  assertEquals(withToken.code, 1);
  assertMatch(withToken.stderr, /^kad: AUTH: This server runs --insecure/m);
  assertEquals((await startJoin(variant, openPort, "n1", ["--null"], ["--insecure"]).result()).code, 0);
  const { code, stderr } = await open.result();
  assertEquals(code, 0);
  assertMatch(stderr, /WARNING: --insecure: no authentication/);
});

Deno.test("security: kad serve without a token generates one and prints the exact join command", async () => {
  const server = new KadServer(variant, ["--bench", "1MB", "--clients", "1", "--timeout", "10"], {
    env: { KAD_TOKEN: "" },
  });
  const port = await server.port;
  const listening = server.events.find((e) => e.event === "listening")!;
  const token = listening.token as string;
  assertMatch(token, /^[A-Za-z0-9_-]{32}$/);
  const node = await new KadProcess(variant, [
    "join",
    "--server",
    `127.0.0.1:${port}`,
    "--token",
    token,
    "--name",
    "n1",
    "--null",
  ], { env: { KAD_TOKEN: "" } }).result();
  assertEquals(node.code, 0, node.stderr);
  const { code, stderr } = await server.result();
  assertEquals(code, 0);
  assertMatch(
    stderr,
    new RegExp(
      `generated a join token; on every node run:\\n  kad join --server \\S+:${port} --token ${token} --null`,
    ),
  );
});

Deno.test("security: a recorded handshake replayed to the server fails; the node is not registered", async () => {
  const server = new KadServer(variant, ["--bench", "1MB", "--clients", "2", "--timeout", "10"]);
  const port = await server.port;
  await using proxy = new RecordingProxy({ host: "127.0.0.1", port });
  const first = startJoin(variant, proxy.port, "n1", ["--null"]);
  await server.joined(1);
  // what n1 sent: HELLO (its nonce) and AUTH (its proof over that nonce and the server's)
  const recorded = concatBytes(proxy.forward);
  const replay = await Deno.connect({ hostname: "127.0.0.1", port });
  await replay.write(recorded);
  const challenge = await readFrame(replay);
  assertEquals(challenge?.type, FrameType.CHALLENGE);
  const answer = await readFrame(replay);
  assertEquals(answer?.type, FrameType.ERROR);
  assertEquals((answer!.body as { code: string }).code, "AUTH");
  replay.close();
  const second = await startJoin(variant, port, "n2", ["--null"]).result();
  assertEquals(second.code, 0, second.stderr);
  assertEquals((await first.result()).code, 0);
  const { code, report } = await server.result();
  assertEquals(code, 0);
  assertEquals(report!.nodes.map((n) => n.name).sort(), ["n1", "n2"]);
  assertEquals(server.events.filter((e) => e.event === "joined").length, 2);
});

Deno.test("security: data injected on a node's data port reaches nothing; the node completes from its real upstream", async () => {
  await using dir = await tempDir();
  const out = join(dir.path, "out.bin");
  const server = new KadServer(variant, ["-", "--clients", "1", "--timeout", "10"], { stdin: true });
  const port = await server.port;
  const events: Record<string, unknown>[] = [];
  const node = new KadProcess(variant, [
    "join",
    "--server",
    `127.0.0.1:${port}`,
    "--name",
    "target",
    "--listen",
    "127.0.0.1:0",
    "--out",
    out,
    "--json",
  ], { lines: (line) => events.push(JSON.parse(line)) });
  await server.joined(1);
  while (!events.some((e) => e.event === "joined")) await new Promise((r) => setTimeout(r, 20));
  const dataPort = events.find((e) => e.event === "listening")!.port as number;
  const deployment = events.find((e) => e.event === "joined")!.deployment as string;
  while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
  const source = markedPayload(4 * MiB);
  await server.process.write(source.subarray(0, MiB));
  // an attacker who saw the deployment id poses as the server: LINK, a made-up proof, then data
  const forged = new Uint8Array(MiB).fill(0x41);
  for (const flags of [0, FLAG_MAC]) {
    const attacker = await Deno.connect({ hostname: "127.0.0.1", port: dataPort });
    const nonce = "ab".repeat(32);
    await attacker.write(
      encodeJsonFrame(FrameType.LINK, { deployment, from: "server", to: "target", nonce }),
    );
    assertEquals((await readFrame(attacker))?.type, FrameType.LINK_CHALLENGE);
    await attacker.write(encodeJsonFrame(FrameType.LINK_AUTH, { proof: "cd".repeat(32) }));
    const frame = new Uint8Array(16 + forged.length + 16);
    writeHeader(new DataView(frame.buffer), FrameType.DATA, forged.length, MiB, 0, flags);
    frame.set(forged, 16);
    await attacker.write(frame).catch(() => 0);
    attacker.close();
  }
  // a connection that never introduces itself
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: dataPort });
  await raw.write(forged).catch(() => 0);
  raw.close();
  await server.process.write(source.subarray(MiB));
  await server.process.closeStdin();
  const result = await node.result();
  assertEquals(result.code, 0, result.stderr);
  assertEquals((await server.result()).code, 0);
  assertEquals(await Deno.readFile(out), source, "the node's file is the source, byte for byte");
});

Deno.test("security: 200 idle unauthenticated connections do not stop a deployment", async () => {
  const server = new KadServer(variant, ["--bench", "8MB", "--clients", "3", "--timeout", "10"]);
  const port = await server.port;
  const idle = await Promise.all(
    Array.from({ length: 200 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  // a slowloris peer: half a header, then nothing
  await idle[0].write(new Uint8Array([0x4b, 0x01, 0, 0]));
  const nodes = ["n1", "n2", "n3"].map((name) => startJoin(variant, port, name, ["--null"]));
  const results = await Promise.all(nodes.map((n) => n.result()));
  for (const r of results) assertEquals(r.code, 0, r.stderr);
  const { code, report } = await server.result();
  assertEquals(code, 0);
  assertEquals(report!.nodes.filter((n) => n.status === "ok").length, 3);
  for (const conn of idle) conn.close();
});

Deno.test("security: a token shorter than 16 characters or an unreadable token file → exit 2 with a one-line error", async () => {
  const short = await new KadProcess(variant, [
    "serve",
    "--bench",
    "1MB",
    "--clients",
    "1",
    "--token",
    "short",
  ])
    .result();
  assertEquals(short.code, 2);
  assertMatch(short.stderr, /^kad: The join token from --token is too short \(5 characters, at least 16\)/);
  const missing = await new KadProcess(variant, [
    "join",
    "--server",
    "127.0.0.1:1",
    "--null",
    "--token-file",
    "/nonexistent/token",
  ]).result();
  assertEquals(missing.code, 2);
  assertMatch(missing.stderr, /^kad: Cannot read the token file "\/nonexistent\/token"/);
  const both = await new KadProcess(variant, [
    "join",
    "--server",
    "h",
    "--null",
    "--insecure",
    "--token",
    TEST_TOKEN,
  ])
    .result();
  assertEquals(both.code, 2);
  assertMatch(both.stderr, /--insecure runs without a join token/);
});

Deno.test("security: a tar stream with absolute and .. member names writes nothing outside the target (GNU tar refuses)", async () => {
  await using dir = await tempDir();
  const target = join(dir.path, "target");
  await Deno.mkdir(target);
  await Deno.writeTextFile(join(dir.path, "f"), "evil\n");
  const archive = join(dir.path, "evil.tar");
  const outside = join(dir.path, "abs-evil");
  for (const [mode, from, to] of [["-cPf", "f", "../escape"], ["-rPf", join(dir.path, "f"), outside]]) {
    const tar = await new Deno.Command("tar", {
      args: [mode, archive, "-C", dir.path, `--transform=s,^${from}$,${to},`, from],
    }).output();
    assertEquals(tar.code, 0, new TextDecoder().decode(tar.stderr));
  }
  const server = new KadServer(variant, ["-", "--tar", "--clients", "1", "--timeout", "10"], { stdin: true });
  const port = await server.port;
  const node = startJoin(variant, port, "n1", ["--to", target]);
  await server.joined(1);
  await server.process.write(await Deno.readFile(archive));
  await server.process.closeStdin();
  const result = await node.result();
  await server.result();
  assertEquals(result.code, 1, "tar's refusal fails the node");
  assertMatch(result.stderr, /failed LWF: tar -x exited with status 2/);
  for (const path of [join(dir.path, "escape"), outside]) {
    assertEquals(await Deno.stat(path).then(() => true, () => false), false, `${path} was written`);
  }
  // the absolute name lands inside the target, its leading / stripped
  assert((await Deno.stat(join(target, outside))).isFile);
});

/** The environment of process `pid`, read through `cat` (Deno reads /proc only with --allow-all). */
async function environOf(pid: string): Promise<string[]> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/environ`], stdout: "piped" })
    .output();
  return new TextDecoder().decode(stdout).split("\0");
}

async function pidsOf(pattern: string): Promise<string[]> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-f", pattern], stdout: "piped" }).output();
  return new TextDecoder().decode(stdout).trim().split("\n").filter((p) => p !== "");
}

Deno.test("security: tar -x, dd and a --cmd shell never see KAD_TOKEN, which the kad node itself holds", async () => {
  await using dir = await tempDir();
  const target = join(dir.path, "target");
  await Deno.mkdir(target);
  const disk = join(dir.path, "disk.img");
  const marker = `kad-env-check-${crypto.randomUUID()}`;
  const server = new KadServer(variant, ["-", "--tar", "--clients", "3"], { stdin: true });
  const port = await server.port;
  const nodes = [
    startJoin(variant, port, null, ["--to", target]),
    startJoin(variant, port, null, ["--dd", disk, "--raw"]),
    startJoin(variant, port, null, ["--cmd", `cat >/dev/null; : ${marker}`]),
  ];
  await server.joined(3);
  while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
  const tar =
    (await new Deno.Command("tar", { args: ["-C", "/usr", "-c", "share/doc"], stdout: "piped" }).output())
      .stdout;
  await server.process.write(tar.subarray(0, 1 << 20)); // the sinks start with the first bytes
  const sinks: Record<string, string[]> = {};
  for (let i = 0; i < 100; i++) {
    sinks.tar = await pidsOf(`tar -x -f - -C ${target}`);
    sinks.dd = await pidsOf(`dd of=${disk}`);
    sinks.cmd = await pidsOf(`sh -c cat >/dev/null; : ${marker}`); // not the kad node: its argv says --cmd
    if (Object.values(sinks).every((p) => p.length > 0)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const all = new TextDecoder().decode(
    (await new Deno.Command("pgrep", { args: ["-af", marker], stdout: "piped" }).output()).stdout,
  );
  for (const [what, pids] of Object.entries(sinks)) {
    assert(pids.length > 0, `the ${what} sink runs: ${all}`);
    for (const pid of pids) {
      const env = await environOf(pid);
      assert(env.length > 1, `read the environment of ${what} (${pid})`);
      assert(!env.some((v) => v.startsWith("KAD_TOKEN=")), `${what} sees no KAD_TOKEN`);
    }
  }
  const nodeEnv = await environOf(String(nodes[0].child.pid));
  assert(nodeEnv.includes(`KAD_TOKEN=${TEST_TOKEN}`), "the check can fail: the node itself holds the token");
  await server.process.write(tar.subarray(1 << 20));
  await server.process.closeStdin();
  for (const r of await Promise.all(nodes.map((n) => n.result()))) assertEquals(r.code, 0, r.stderr);
  assertEquals((await server.result()).code, 0);
});

/**
 * Node.js opening `connections` connections to 127.0.0.1:`port` from `from` (Deno cannot choose a
 * connection's source address), re-opening each as soon as the server drops it, for `ms`; prints
 * how many it opened.
 */
const FLOOD_SCRIPT = `
const net = require("node:net");
const [port, connections, ms, from] = process.argv.slice(1);
const until = Date.now() + Number(ms);
let opened = 0;
function open() {
  if (Date.now() >= until) return;
  const socket = net.connect({ host: "127.0.0.1", port: Number(port), localAddress: from });
  socket.on("connect", () => opened++);
  socket.on("data", () => {});
  socket.on("error", () => {});
  socket.on("close", () => setImmediate(open));
  socket.setTimeout(Math.max(1, until - Date.now()), () => socket.destroy());
}
for (let i = 0; i < Number(connections); i++) open();
setTimeout(() => { console.log(opened); process.exit(0); }, Number(ms) + 200);
`;

async function flood(port: number, connections: number, ms: number, from: string): Promise<number> {
  const { stdout, success } = await new Deno.Command("node", {
    args: ["-e", FLOOD_SCRIPT, String(port), String(connections), String(ms), from],
    stdout: "piped",
  }).output();
  assert(success, "the flood ran");
  return Number(new TextDecoder().decode(stdout).trim());
}

const hasNode = hasTool("node");

for (const from of ["127.0.0.1", "127.0.0.2"]) {
  const whence = from === "127.0.0.1" ? "the nodes' own address" : "another address";
  Deno.test({
    name:
      `security: 500 connections re-opened as fast as they are dropped, from ${whence}, while 4 nodes join → all 4 verified`,
    ignore: !hasNode,
    fn: async () => {
      const server = new KadServer(variant, ["--bench", "50MB", "--clients", "4"]);
      const port = await server.port;
      const flooding = flood(port, 500, 10_000, from);
      await new Promise((r) => setTimeout(r, 1000)); // the flood is on when the nodes come
      const nodes = [0, 1, 2, 3].map(() => startJoin(variant, port, null, ["--null"]));
      const results = await Promise.all(nodes.map((n) => n.result()));
      const opened = await flooding;
      const { code, report, stderr } = await server.result();
      for (const r of results) assertEquals(r.code, 0, `${r.stderr}\nserver:\n${stderr}`);
      assertEquals(code, 0, stderr);
      assertEquals(report!.nodes.filter((n) => n.status === "ok").length, 4);
      const joinedAt = server.events.filter((e) => e.event === "phase" && e.phase === "joined")
        .map((e) => (e.at as number).toFixed(1));
      console.log(
        `  flood from ${from}: ${opened} connections in 10 s; the nodes joined at ${joinedAt.join(", ")} s`,
      );
      assert(opened >= 2000, `the flood opened ${opened} connections`);
      // refusals are told at most once per address and code every 10 s
      const notices = server.events.filter((e) => e.event === "refused" && e.code === "FLOOD");
      assert(notices.length >= 1 && notices.length <= 3, `${notices.length} flood notices`);
      // from another address, nobody waits for the flood to end
      if (from !== "127.0.0.1") assert(joinedAt.every((at) => Number(at) < 9), `joined during the flood`);
    },
  });
}
