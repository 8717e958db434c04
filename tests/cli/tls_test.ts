/**
 * `--tls` specs, end to end with real processes, real certificates (openssl) and a recording proxy
 * on a data link: what crosses the wire, and what a mismatched side is told.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import {
  concatBytes,
  containsBytes,
  freeLoopbackPort,
  markedPayload,
  RecordingProxy,
} from "../_helpers/raw_peer.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { makeTestPki, opensslAvailable, type TestPki } from "../_helpers/test_pki.ts";

const variant = kadVariants()[0];
const MiB = 1 << 20;
const ignore = !opensslAvailable();
if (ignore) console.warn("tls specs skipped: they need the openssl command to make certificates");

function serverTls(pki: TestPki): string[] {
  return ["--tls", "--cert", pki.cert, "--key", pki.key, "--ca", pki.ca];
}

/**
 * Deploys a marked image to a (through a proxy that records the server → a link) and b (fed by a),
 * and returns what the proxy saw with the source and the two copies.
 */
async function deployThroughRecorder(
  dir: string,
  serverArgs: string[],
  nodeArgs: string[],
): Promise<{ source: Uint8Array; recorded: Uint8Array; copies: Uint8Array[] }> {
  const source = markedPayload(3 * MiB);
  const image = join(dir, "image.bin");
  await Deno.writeFile(image, source);
  const server = new KadServer(variant, [
    "--image",
    image,
    "--clients",
    "2",
    "--order",
    "name",
    "--timeout",
    "20",
    ...serverArgs,
  ]);
  const port = await server.port;
  const aPort = freeLoopbackPort();
  await using proxy = new RecordingProxy({ host: "127.0.0.1", port: aPort });
  const outputs = ["a.bin", "b.bin"].map((name) => join(dir, name));
  const a = startJoin(variant, port, "a", ["--out", outputs[0]], [
    "--advertise",
    `127.0.0.1:${proxy.port}`,
    ...nodeArgs,
  ], { listen: `127.0.0.1:${aPort}` });
  const b = startJoin(variant, port, "b", ["--out", outputs[1]], nodeArgs);
  for (const node of await Promise.all([a.result(), b.result()])) assertEquals(node.code, 0, node.stderr);
  assertEquals((await server.result()).code, 0);
  return {
    source,
    recorded: concatBytes(proxy.forward),
    copies: await Promise.all(outputs.map((file) => Deno.readFile(file))),
  };
}

/** Pieces of `source` from its start, middle and end. */
function samples(source: Uint8Array): Uint8Array[] {
  return [0, source.length / 2 + 7, source.length - 64].map((at) => source.subarray(at, at + 64));
}

Deno.test({
  name: "tls: a deployment over --tls verifies, and no piece of the stream crosses a data link in clear",
  ignore,
  fn: async () => {
    await using dir = await tempDir();
    const pki = await makeTestPki(dir.path);
    const { source, recorded, copies } = await deployThroughRecorder(dir.path, serverTls(pki), [
      "--tls",
      "--ca",
      pki.ca,
    ]);
    for (const copy of copies) assertEquals(copy, source);
    assert(recorded.length > source.length, `the link carried ${recorded.length} bytes`);
    for (const piece of samples(source)) assert(!containsBytes(recorded, piece), "stream bytes in clear");
    assertEquals(recorded[0], 0x16, "the link opens with a TLS handshake record");
  },
});

Deno.test({
  name: "tls: without --tls the same recording shows the stream (what the spec above rules out)",
  ignore,
  fn: async () => {
    await using dir = await tempDir();
    const { source, recorded, copies } = await deployThroughRecorder(dir.path, [], []);
    for (const copy of copies) assertEquals(copy, source);
    for (const piece of samples(source)) {
      assert(containsBytes(recorded, piece), "stream bytes expected in clear");
    }
  },
});

Deno.test({
  name:
    "tls: a plain node and a --tls server, a --tls node and a plain server, an untrusted CA → one clear line each",
  ignore,
  fn: async () => {
    await using dir = await tempDir();
    const pki = await makeTestPki(dir.path);
    const tlsServer = new KadServer(variant, ["--bench", "1MB", "--clients", "1", ...serverTls(pki)]);
    const tlsPort = await tlsServer.port;
    const plain = await startJoin(variant, tlsPort, "plain", ["--null"]).result();
    assertEquals(plain.code, 1);
    assertMatch(plain.stderr, /^kad: PROTO: Peer speaks TLS: run both sides with --tls, or neither$/m);
    const untrusted = await startJoin(variant, tlsPort, "untrusted", ["--null"], [
      "--tls",
      "--ca",
      pki.otherCa,
    ])
      .result();
    assertEquals(untrusted.code, 1);
    assertMatch(
      untrusted.stderr,
      /^kad: AUTH: TLS handshake with server 127\.0\.0\.1:\d+ failed: .*UnknownIssuer/m,
    );
    // the certificate names 127.0.0.1 only
    const wrongName = await startJoin(variant, tlsPort, "by-name", ["--null"], ["--tls", "--ca", pki.ca], {
      serverHost: "localhost",
    }).result();
    assertEquals(wrongName.code, 1);
    assertMatch(
      wrongName.stderr,
      /^kad: AUTH: TLS handshake with server localhost:\d+ failed: .*not valid for name "localhost"/m,
    );
    const good = await startJoin(variant, tlsPort, "good", ["--null"], ["--tls", "--ca", pki.ca]).result();
    assertEquals(good.code, 0, good.stderr);
    const served = await tlsServer.result();
    assertEquals(served.report!.nodes.map((n) => n.name), ["good"]);

    const plainServer = new KadServer(variant, ["--bench", "1MB", "--clients", "1"]);
    const plainPort = await plainServer.port;
    const tlsNode = await startJoin(variant, plainPort, "tls", ["--null"], ["--tls", "--ca", pki.ca])
      .result();
    assertEquals(tlsNode.code, 1);
    assertMatch(
      tlsNode.stderr,
      /^kad: AUTH: TLS handshake with server 127\.0\.0\.1:\d+ failed: .*\(does it run --tls\?\)$/m,
    );
    assertEquals((await startJoin(variant, plainPort, "n1", ["--null"]).result()).code, 0);
    assertEquals((await plainServer.result()).code, 0);
  },
});

Deno.test({
  name: "tls: missing or mismatched certificate options → exit 2 with a one-line error, before listening",
  ignore,
  fn: async () => {
    await using dir = await tempDir();
    const pki = await makeTestPki(dir.path);
    const serve = (...tls: string[]) => [
      "serve",
      "--bench",
      "1MB",
      "--clients",
      "1",
      "--listen",
      "127.0.0.1",
      "--port",
      "0",
      "--tls",
      ...tls,
    ];
    const join_ = (...tls: string[]) => ["join", "--server", "127.0.0.1:1", "--null", ...tls];
    const cases: [string[], RegExp][] = [
      [serve("--cert", pki.cert), /--tls needs --cert FILE and --key FILE/],
      [
        serve("--cert", pki.cert, "--key", pki.key, "--ca", pki.otherCa),
        /The TLS certificate is not trusted by the CA given: .*UnknownIssuer/,
      ],
      [serve("--cert", pki.key, "--key", pki.cert), /The TLS certificate or key cannot be used/],
      [
        serve("--insecure", "--cert", pki.cert, "--key", pki.key),
        /--tls needs a join token: drop --insecure/,
      ],
      [join_("--tls"), /--tls needs --ca FILE/],
      [join_("--ca", pki.ca), /--ca is only used with --tls/],
      [join_("--tls", "--ca", join(dir.path, "server.ext")), /is not a PEM file/],
      [join_("--tls", "--ca", join(dir.path, "absent.pem")), /Cannot read --ca ".*absent\.pem"/],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await new KadProcess(variant, args).result();
      assertEquals(code, 2, `${args.join(" ")}: ${stderr}`);
      const lines = stderr.trim().split("\n").filter((line) => !line.startsWith("Usage:"));
      assertEquals(lines.length, 1, stderr);
      assertMatch(lines[0], message);
    }
  },
});
