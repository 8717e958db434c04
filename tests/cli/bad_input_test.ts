/**
 * Bad input gets one clear line and a non-zero exit: never a stack trace, never a hang.
 */

import { join } from "node:path";
import { encodeJsonFrame, FrameType, PROTOCOL_VERSION } from "../../lib/protocol/frame.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { BitFlipProxy } from "../_helpers/bit_flip_proxy.ts";
import { freeLoopbackPort, readFrame } from "../_helpers/raw_peer.ts";

const variant = kadVariants()[0];
const NO_STACK = /^\s+at /m;

async function run(args: string[]) {
  return await new KadProcess(variant, args).result();
}

function assertOneLineError(r: { code: number; stderr: string }, code: number, pattern: RegExp) {
  assertEquals(r.code, code, r.stderr);
  assertMatch(r.stderr, pattern);
  assert(!NO_STACK.test(r.stderr), `no stack trace expected:\n${r.stderr}`);
}

Deno.test("bad input: an unknown flag → usage error, exit 2", async () => {
  assertOneLineError(
    await run(["serve", "--bogus", "/tmp"]),
    2,
    /^kad: Unknown option '--bogus'\nUsage: kad serve/,
  );
});

Deno.test("bad input: an unknown command → exit 2, the commands listed, the closest one suggested", async () => {
  assertOneLineError(
    await run(["clone"]),
    2,
    /^kad: Unknown command "clone"\. Commands: serve, join, demo, bench, netboot, simulate, head, agent, run, gather\n/,
  );
  assertOneLineError(
    await run(["srve"]),
    2,
    /^kad: Unknown command "srve"\. Did you mean "serve"\? Commands: /,
  );
});

Deno.test("bad input: agents' commands without what they need → one line, exit 2; no head → NNF, exit 1", async () => {
  const cases: [string[], RegExp][] = [
    [["run"], /^kad: Missing the command: kad run \[options\] -- COMMAND\nUsage: kad run/],
    [["gather", "--to", "x"], /^kad: Give what to gather: a PATH on the nodes, or --cmd COMMAND\n/],
    [["gather", "/etc", "--cmd", "ls", "--to", "x"], /^kad: Give what to gather/],
    [["gather", "/etc"], /^kad: Missing --to DIR/],
    [["gather", "/etc", "--to", "x", "--merge", " "], /^kad: --merge takes a command/],
    [["gather", "/etc", "--to", "x", "--fanout", "0"], /^kad: Option --fanout/],
    [["agent"], /^kad: Missing --server HEAD\[:PORT\]/],
    [["run", "--nodes", "n[1-", "--", "true"], /^kad: Bad host list "n\[1-"/],
    [["head", "--port", "70000"], /^kad: Option --port/],
  ];
  for (const [args, pattern] of cases) assertOneLineError(await run(args), 2, pattern);
  const tokenless = await new KadProcess(variant, ["run", "--", "true"], { env: { KAD_TOKEN: "" } }).result();
  assertOneLineError(tokenless, 2, /^kad: No join token: .* kad head, its agents and its clients share one/);
  const port = await freeLoopbackPort();
  assertOneLineError(
    await run(["run", "--head", `127.0.0.1:${port}`, "--", "true"]),
    1,
    /^kad: NNF: Cannot connect to kad head at 127\.0\.0\.1:\d+: .*refused.*\n$/,
  );
});

Deno.test("bad input: -h works for every command", async () => {
  for (const command of ["serve", "join", "demo", "bench", "netboot", "head", "agent", "run", "gather"]) {
    const r = await run([command, "-h"]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, new RegExp(`^Usage: kad ${command}`));
    assertMatch(r.stdout, /-h, --help/);
  }
});

Deno.test("bad input: join without a sink, or with two → exit 2", async () => {
  assertOneLineError(await run(["join", "--server", "h"]), 2, /^kad: No sink: give one of --to DIR/);
  assertOneLineError(await run(["join", "--server", "h", "--null", "--to", "/tmp"]), 2, /Give only one of/);
});

Deno.test("bad input: a bad --phase name, or --post-install-timeout without --post-install → exit 2", async () => {
  assertOneLineError(
    await run(["join", "--server", "h", "--null", "--phase", "Booted"]),
    2,
    /^kad: Bad phase "Booted": a phase name is a lowercase word/,
  );
  assertOneLineError(
    await run(["join", "--server", "h", "--null", "--post-install-timeout", "5"]),
    2,
    /^kad: --post-install-timeout needs --post-install/,
  );
  assertOneLineError(
    await run(["join", "--server", "h", "--null", "--post-install", " "]),
    2,
    /^kad: --post-install needs a command/,
  );
});

Deno.test("bad input: serve with nothing to start it (no TTY) → exit 2", async () => {
  assertOneLineError(
    await run(["serve", "/tmp"]),
    2,
    /Nothing would start the deployment: give --clients N or --wait S/,
  );
});

Deno.test("bad input: a missing source directory or target directory → exit 2", async () => {
  assertOneLineError(
    await run(["serve", "/nonexistent-kad", "--clients", "1"]),
    2,
    /^kad: Cannot serve "\/nonexistent-kad": no such file or directory\n$/,
  );
  assertOneLineError(
    await run(["join", "--server", "127.0.0.1", "--to", "/nonexistent-kad"]),
    2,
    /^kad: Target directory "\/nonexistent-kad" does not exist\n$/,
  );
});

Deno.test("bad input: bad numbers → exit 2", async () => {
  assertOneLineError(await run(["serve", "/tmp", "--clients", "x"]), 2, /--clients takes a whole number/);
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "2", "--fanout", "9"]),
    2,
    /--fanout takes a whole number from 1 to 8/,
  );
});

Deno.test("bad input: unreachable server with --wait-server 0 → NNF at once, exit 1", async () => {
  const port = freeLoopbackPort();
  assertOneLineError(
    await run(["join", "--server", `127.0.0.1:${port}`, "--null", "--wait-server", "0"]),
    1,
    /^kad: NNF: Cannot connect to server 127\.0\.0\.1:\d+ at 127\.0\.0\.1:\d+: Connection refused/,
  );
});

Deno.test("bad input: control port in use → exit 2", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "1", "--listen", "127.0.0.1", "--port", String(port)]),
    2,
    /^kad: Cannot listen for nodes on 127\.0\.0\.1:\d+: address already in use\n$/,
  );
});

Deno.test("bad input: --ui open to the network with no token, a bad address, a port in use → exit 2", async () => {
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "1", "--insecure", "--ui", "0.0.0.0:0"]),
    2,
    /kad: --ui 0\.0\.0\.0:0 opens the status page to the network: it needs a token, and --insecure has none/,
  );
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "1", "--ui", "localhost"]),
    2,
    /--ui takes PORT or HOST:PORT, got "localhost"/,
  );
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "1", "--ui-token", "0123456789abcdefgh"]),
    2,
    /--ui-token is for --ui/,
  );
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "1", "--ui", String(port)]),
    2,
    /^kad: Cannot serve the status page on 127\.0\.0\.1:\d+: .*in use.*\n$/,
  );
  assertOneLineError(
    await run(["serve", "/tmp", "--clients", "1", "--status-file", "/nonexistent-kad/status.json"]),
    2,
    /^kad: Cannot write the status file "\/nonexistent-kad\/status.json": .*\n$/,
  );
});

Deno.test("bad input: --launch without hosts or a sink, --hosts alone, a bad host list or nodes file → exit 2", async () => {
  const serve = ["serve", "/tmp", "--clients", "1"];
  assertOneLineError(
    await run([...serve, "--launch", "ssh", "--join-args=--null"]),
    2,
    /--launch ssh needs --hosts/,
  );
  assertOneLineError(
    await run([...serve, "--launch", "ssh", "--hosts", "n[1-2]"]),
    2,
    /needs the nodes' sink/,
  );
  assertOneLineError(
    await run([...serve, "--hosts", "n[1-2]"]),
    2,
    /--hosts and --join-args are for --launch/,
  );
  assertOneLineError(
    await run([...serve, "--launch", "ssh", "--hosts", "n[2-1]", "--join-args=--null"]),
    2,
    /Bad host list "n\[2-1\]": the range 2-1 runs backwards/,
  );
  assertOneLineError(
    await run([...serve, "--launch", "ssh", "--hosts", "n1", "--join-args", "--null"]),
    2,
    /write it --join-args="VALUE"/,
  );
  assertOneLineError(
    await run([...serve, "--nodes-file", "/nonexistent-kad/nodes"]),
    2,
    /Cannot read the nodes file/,
  );
  assertOneLineError(
    await run(["join", "--server", "127.0.0.1", "--null", "--label", "rack"]),
    2,
    /a label is KEY=VALUE/,
  );
});

Deno.test("bad input: a server that speaks garbage → PROTO, exit 1", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.write(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n and more bytes"));
    await new Promise((r) => setTimeout(r, 500));
    conn.close();
  })();
  assertOneLineError(
    await run(["join", "--server", `127.0.0.1:${port}`, "--null"]),
    1,
    /^kad: PROTO: 127\.0\.0\.1:\d+ answered but is not a kad server \(it sent "SSH-2\.0-OpenSSH_"\)\n$/,
  );
  await serving;
});

Deno.test("bad input: a port that accepts but never answers → named not kad within --connect-timeout, exit 1", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = listener.accept();
  const started = performance.now();
  const r = await run(["join", "--server", `127.0.0.1:${port}`, "--null", "--connect-timeout", "1"]);
  (await accepted).close();
  assertOneLineError(
    r,
    1,
    /^kad: TIMEOUT: 127\.0\.0\.1:\d+ answered but is not a kad server: no kad handshake within 1 s \(--connect-timeout\)\n$/,
  );
  assert(performance.now() - started < 10_000);
});

Deno.test("bad input: an HTTP server on the port → named not kad at once, with what it sent", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("hello"),
  );
  try {
    const started = performance.now();
    assertOneLineError(
      await run(["join", "--server", `127.0.0.1:${server.addr.port}`, "--null"]),
      1,
      /^kad: PROTO: 127\.0\.0\.1:\d+ answered but is not a kad server \(it sent "HTTP\/1\.1 400 Bad"\)\n$/,
    );
    assert(performance.now() - started < 5000, "noticed at once, not after a timeout");
  } finally {
    await server.shutdown();
  }
});

Deno.test("bad input: a node name with a newline or over 255 characters → usage error, exit 2", async () => {
  for (const name of ["a\nb", "x".repeat(256), ""]) {
    assertOneLineError(
      await run(["join", "--server", "h", "--null", "--name", name]),
      2,
      /^kad: Option --name takes 1 to 255 characters without control characters/,
    );
  }
});

Deno.test("bad input: a node of another protocol version is refused; garbage peers do not disturb the server", async () => {
  await using dir = await tempDir();
  const image = join(dir.path, "img");
  await Deno.writeFile(image, new Uint8Array(1000).fill(7));
  const server = new KadServer(variant, ["--image", image, "--clients", "1", "--timeout", "10"]);
  const port = await server.port;
  const garbage = await Deno.connect({ hostname: "127.0.0.1", port });
  await garbage.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
  const old = await Deno.connect({ hostname: "127.0.0.1", port });
  await old.write(encodeJsonFrame(FrameType.HELLO, {
    version: 99,
    name: "future",
    dataHost: "",
    dataPort: 9,
    sink: "null",
    features: [],
  }));
  const answer = (await readFrame(old))!;
  assertEquals(answer.type, FrameType.ERROR);
  assertMatch(
    (answer.body as { message: string }).message,
    new RegExp(`Protocol version 99 is not supported: this server speaks version ${PROTOCOL_VERSION}`),
  );
  old.close();
  garbage.close();
  const node = await startJoin(variant, port, "real", ["--null"]).result();
  assertEquals(node.code, 0, node.stderr);
  assertEquals((await server.result()).code, 0);
});

Deno.test("interrupts: server killed mid-stream → every node exits non-zero, promptly", async () => {
  await using dir = await tempDir();
  const out = join(dir.path, "out.img");
  const server = new KadServer(variant, ["-", "--clients", "2", "--timeout", "5"], { stdin: true });
  const port = await server.port;
  const a = startJoin(variant, port, "a", ["--out", out], ["--timeout", "5"]);
  const b = startJoin(variant, port, "b", ["--null"], ["--timeout", "5"]);
  await server.joined(2);
  await server.process.write(new Uint8Array(1 << 20));
  await new Promise((r) => setTimeout(r, 300));
  const killedAt = performance.now();
  server.process.kill("SIGKILL");
  const [ra, rb] = await Promise.all([a.result(), b.result()]);
  assertEquals(ra.code, 1, ra.stderr);
  assertEquals(rb.code, 1, rb.stderr);
  assertMatch(ra.stderr, /failed (NRF|TIMEOUT)/);
  assert(performance.now() - killedAt < 10_000);
  const left = [...Deno.readDirSync(dir.path)].map((e) => e.name);
  assertEquals(left, [], "no partial or final output file is left behind");
  await server.result();
});

Deno.test("interrupts: SIGINT on the server → nodes fail ABORT, server exits 130", async () => {
  const server = new KadServer(variant, ["-", "--clients", "2", "--timeout", "5"], { stdin: true });
  const port = await server.port;
  const a = startJoin(variant, port, "a", ["--null"]);
  const b = startJoin(variant, port, "b", ["--null"]);
  await server.joined(2);
  await server.process.write(new Uint8Array(1 << 20));
  await new Promise((r) => setTimeout(r, 300));
  server.process.kill("SIGINT");
  const [ra, rb] = await Promise.all([a.result(), b.result()]);
  const { code, report } = await server.result();
  assertEquals(code, 130);
  for (const r of [ra, rb]) {
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /failed ABORT/);
  }
  assert(report!.nodes.every((n) => n.status === "failed"));
});

Deno.test("interrupts: SIGINT on a middle node → its tar is stopped, it and the node behind fail, the head is ok", async () => {
  await using dir = await tempDir();
  const targets = [join(dir.path, "t1"), join(dir.path, "t2")];
  for (const t of targets) await Deno.mkdir(t);
  const server = new KadServer(variant, ["-", "--tar", "--clients", "3", "--timeout", "10"], { stdin: true });
  const port = await server.port;
  const head = startJoin(variant, port, "head", ["--null"]);
  await server.joined(1);
  const middle = startJoin(variant, port, "middle", ["--to", targets[0]]);
  await server.joined(2);
  const tail = startJoin(variant, port, "tail", ["--to", targets[1]]);
  await server.joined(3);
  const tar =
    (await new Deno.Command("tar", { args: ["-C", "/usr", "-c", "share/doc"], stdout: "piped" }).output())
      .stdout;
  await server.process.write(tar.subarray(0, tar.length >> 1));
  await new Promise((r) => setTimeout(r, 500));
  middle.kill("SIGINT");
  const rm = await middle.result();
  assertEquals(rm.code, 130, rm.stderr);
  await server.process.write(tar.subarray(tar.length >> 1));
  await server.process.closeStdin();
  const [rh, rt] = await Promise.all([head.result(), tail.result()]);
  const { report } = await server.result();
  assertEquals(rh.code, 0, rh.stderr);
  assertEquals(rt.code, 1);
  const byName = Object.fromEntries(report!.nodes.map((n) => [n.name, n]));
  assertEquals(byName.head.status, "ok");
  assertEquals(byName.middle.error?.code, "ABORT");
  assert(byName.tail.status === "failed");
  const tars = new Deno.Command("pgrep", { args: ["-f", `tar -x -f - -C ${targets[0]}`] }).outputSync();
  assertEquals(new TextDecoder().decode(tars.stdout).trim(), "", "the middle node's tar is gone");
});

Deno.test("unreachable head: a node advertising an address nobody listens on → NNF, the node behind is fed by the server", async () => {
  const server = new KadServer(variant, ["--bench", "10MB", "--clients", "2", "--timeout", "5"]);
  const port = await server.port;
  const started = performance.now();
  const head = startJoin(variant, port, "a-head", ["--null"], ["--advertise", "127.0.0.3"]);
  await server.joined(1);
  const tail = startJoin(variant, port, "b-tail", ["--null"]);
  const [rh, rt] = await Promise.all([head.result(), tail.result()]);
  const { code, report } = await server.result();
  assertEquals(code, 1);
  assertEquals(rh.code, 1);
  const byName = Object.fromEntries(report!.nodes.map((n) => [n.name, n]));
  assertEquals(byName["a-head"].error?.code, "NNF");
  assertMatch(byName["a-head"].error!.message, /Cannot connect to a-head at 127\.0\.0\.3:\d+/);
  // repaired around: the server feeds the node behind the unreachable head itself
  assertEquals(byName["b-tail"].status, "ok");
  assertEquals(rt.code, 0, rt.stderr);
  assertEquals(report!.repairs[0].upstream, "server");
  assert(performance.now() - started < 15_000);
});

Deno.test("hung node: a middle node stopped (SIGSTOP) mid-stream → TIMEOUT, head and tail ok, the run ends", async () => {
  const server = new KadServer(variant, ["-", "--clients", "3", "--timeout", "3", "--order", "name"], {
    stdin: true,
  });
  const port = await server.port;
  // the stopped node's kernel buffers take up to tcp_rmem's maximum (32 MiB here) before the head
  // blocks: the head's ring must reach back past that to the tail's offset
  const nodes = ["a-head", "b-middle", "c-tail"].map((name) =>
    startJoin(variant, port, name, ["--null"], ["--timeout", "3", "--ring", "96MiB"])
  );
  await server.joined(3);
  while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
  const chunk = new Uint8Array(1 << 20);
  await server.process.write(chunk);
  await new Promise((r) => setTimeout(r, 300));
  nodes[1].kill("SIGSTOP");
  const stoppedAt = performance.now();
  // keep the source flowing until the head's writes to the stopped node back up and time out
  const feeding = (async () => {
    for (let i = 0; i < 64; i++) await server.process.write(chunk).catch(() => {});
    await server.process.closeStdin();
  })();
  const [head, , tail] = await Promise.all([nodes[0].result(), Promise.resolve(null), nodes[2].result()]);
  const { code, report } = await server.result(30_000);
  const elapsed = performance.now() - stoppedAt;
  nodes[1].kill("SIGKILL");
  nodes[1].kill("SIGCONT");
  await nodes[1].result();
  await feeding;
  assertEquals(code, 1);
  assertEquals(head.code, 0, head.stderr);
  assertEquals(tail.code, 0, tail.stderr);
  const byName = Object.fromEntries(report!.nodes.map((n) => [n.name, n]));
  assertEquals(byName["a-head"].status, "ok");
  assertEquals(byName["b-middle"].error?.code, "TIMEOUT");
  assertEquals(byName["c-tail"].status, "ok");
  assert(elapsed < 20_000, `ended ${elapsed} ms after the stop`);
});

/** A chain a → b → c with a proxy on the a → b link that flips one payload bit at 3 MB. */
async function flipOnLink(security: string[]) {
  const server = new KadServer(variant, [
    "--bench",
    "8MB",
    "--clients",
    "3",
    "--timeout",
    "10",
    "--order",
    "name",
    ...security,
  ]);
  const port = await server.port;
  const head = startJoin(variant, port, "a", ["--null"], security);
  // b listens on a fixed free port and advertises the proxy in front of it
  const bPort = freeLoopbackPort();
  await using proxy = new BitFlipProxy({ host: "127.0.0.1", port: bPort }, 3_000_000);
  const middle = startJoin(variant, port, "b", ["--null"], [
    "--advertise",
    `127.0.0.1:${proxy.port}`,
    ...security,
  ], {
    listen: `127.0.0.1:${bPort}`,
  });
  const tail = startJoin(variant, port, "c", ["--null"], security);
  const [ra, rb, rc] = await Promise.all([head.result(), middle.result(), tail.result()]);
  const { code, report } = await server.result();
  assert(proxy.flipped, "the proxy flipped a bit");
  assertEquals(code, 1);
  assertEquals(ra.code, 0, ra.stderr);
  assertEquals(rb.code, 1);
  return { report: report!, tail: rc };
}

Deno.test("corruption: one bit flipped on the a → b link → b fails AUTH at that frame, c is repaired around it", async () => {
  const { report, tail } = await flipOnLink([]);
  const byName = Object.fromEntries(report.nodes.map((n) => [n.name, n]));
  assertEquals(byName.a.status, "ok");
  assertEquals(byName.b.error?.code, "AUTH");
  assert(byName.b.bytes < 3_000_000, "no byte of the altered frame was taken");
  assertEquals(tail.code, 0, tail.stderr);
  assertEquals(byName.c.status, "ok");
});

Deno.test("corruption --insecure: one bit flipped on the a → b link → b and c fail HASH, never a false ok", async () => {
  const { report, tail } = await flipOnLink(["--insecure"]);
  assertEquals(tail.code, 1);
  const byName = Object.fromEntries(report.nodes.map((n) => [n.name, n]));
  assertEquals(byName.a.status, "ok");
  assertEquals(byName.b.error?.code, "HASH");
  assertEquals(byName.c.error?.code, "HASH");
  assertEquals(byName.b.bytes, report.bytes, "the byte count alone would not have caught it");
});
