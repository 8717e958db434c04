import { ProtocolError } from "../../lib/errors.ts";
import { FrameType, type FrameTypeValue, PROTOCOL_VERSION } from "../../lib/protocol/frame.ts";
import { decodeMessage } from "../../lib/protocol/messages.ts";
import { SEALED_KEY_HEX } from "../../lib/security/sealed_key.ts";
import { assertEquals, assertThrows } from "../_helpers/assert.ts";

const NONCE = "0123456789abcdef".repeat(4);
const SEALED = "ab".repeat(SEALED_KEY_HEX / 2);
const PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n";
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

const SAMPLES: [FrameTypeValue, unknown][] = [
  [FrameType.HELLO, {
    version: PROTOCOL_VERSION,
    name: "n1",
    dataHost: "",
    dataPort: 4000,
    sink: "dir",
    features: ["post-install"],
    nonce: NONCE,
    phases: [{ phase: "booted", detail: "" }, { phase: "partitioned", detail: "/dev/vda" }],
    labels: { rack: "r12", room: "b" },
    resume: { deployment: "d", offset: 262144 },
  }],
  [FrameType.ACCEPT, {
    deployment: "d",
    joinIndex: 3,
    name: "vm-2",
    stream: { kind: "tar", bytes: null, description: "tar of /srv", compression: "zstd" },
    resumeFrom: null,
  }],
  [FrameType.PLAN, {
    deployment: "d",
    position: 1,
    nodeCount: 3,
    upstream: "n0",
    children: [{ name: "n2", host: "10.0.0.2", port: 4000, key: SEALED }],
    upstreamKey: SEALED,
    streamKey: SEALED,
    hashAlgorithm: "xxh128",
    streamBytes: null,
    frameBytes: 131072,
  }],
  [FrameType.LINK, { deployment: "d", from: "server", to: "n0", nonce: NONCE }],
  [FrameType.LINK, { deployment: "d", from: "server", to: "n0", nonce: "" }],
  [FrameType.CHALLENGE, { nonce: NONCE, proof: NONCE }],
  [FrameType.AUTH, { proof: NONCE }],
  [FrameType.LINK_CHALLENGE, { nonce: NONCE }],
  [FrameType.LINK_AUTH, { proof: NONCE }],
  [FrameType.LINK_OK, { offset: 0 }],
  [FrameType.END, { bytes: 10, hash: "ab", algorithm: "xxh128", seals: "cd", rawBytes: 30 }],
  [FrameType.REPORT, {
    status: "failed",
    error: { code: "LWF", message: "tar -x exited with status 2" },
    bytes: 10,
    hash: "ab",
    seconds: 1.5,
    links: [{ to: "n2", error: { code: "NWF", message: "Broken pipe" } }],
    rssBytes: 60_000_000,
  }],
  [FrameType.PROGRESS, { bytes: 1, blocked: null }],
  [FrameType.PROGRESS, { bytes: 5, blocked: { by: "n3", share: 0.9 } }],
  [FrameType.ACK, { held: 9, need: 4 }],
  [FrameType.PING, {}],
  [FrameType.ERROR, { code: "REFUSED", message: "late" }],
  [FrameType.ABORT, { code: "LRF", message: "source failed", node: "server" }],
  [FrameType.DROP, {
    code: "TIMEOUT",
    message: "No data from n3 for 5 s",
    node: "n3",
    adopt: [{ name: "n4", host: "10.0.0.4", port: 4000, key: "" }],
  }],
  [FrameType.UPSTREAM_LOST, { code: "NRF", message: "reset", upstream: "n3", offset: 1024 }],
  [FrameType.ADOPTED, { child: "n4", offset: 1024, resent: 4096 }],
  [FrameType.ADOPT_FAILED, { code: "GAP", message: "not retained", child: "n4", offset: 10 }],
  [FrameType.NEW_UPSTREAM, { upstream: "n2", key: SEALED }],
  [FrameType.TLS_LINK_CERT, { cert: PEM_CERT, key: PEM_KEY }],
  [FrameType.DATA_PORT, { port: 4000 }],
  [FrameType.PHASE, { phase: "partitioned", ok: true, detail: "/dev/vda: 2 partitions", end: false }],
  [FrameType.PHASE, { phase: "post-install", ok: false, detail: "POST: exited with status 3", end: true }],
];

for (const [i, [type, body]] of SAMPLES.entries()) {
  Deno.test(`messages: sample ${i} (type 0x${type.toString(16)}) round-trips through JSON`, () => {
    assertEquals(decodeMessage(type, json(body)), { type, body });
  });
}

Deno.test("messages: non-JSON, non-object and invalid UTF-8 payloads are rejected", () => {
  assertThrows(() => decodeMessage(FrameType.PING, new TextEncoder().encode("{")), ProtocolError);
  assertThrows(() => decodeMessage(FrameType.PING, json([1])), ProtocolError);
  assertThrows(() => decodeMessage(FrameType.PING, new Uint8Array([0xff, 0xfe])), ProtocolError);
});

Deno.test("messages: wrong field types, bad ports, unknown codes and control characters are rejected", () => {
  const hello = SAMPLES[0][1] as Record<string, unknown>;
  assertThrows(() => decodeMessage(FrameType.HELLO, json({ ...hello, version: "1" })), /"version"/);
  assertThrows(() => decodeMessage(FrameType.HELLO, json({ ...hello, dataPort: 70000 })), /"dataPort"/);
  assertThrows(() => decodeMessage(FrameType.HELLO, json({ ...hello, name: "a\u0000b" })), /"name"/);
  assertThrows(() => decodeMessage(FrameType.HELLO, json({ ...hello, name: "x".repeat(300) })), /"name"/);
  assertThrows(() => decodeMessage(FrameType.ERROR, json({ code: "NOPE", message: "" })), /"code"/);
  assertThrows(() => decodeMessage(FrameType.PROGRESS, json({ bytes: -1 })), /"bytes"/);
  assertThrows(() => decodeMessage(FrameType.ACK, json({ held: 4, need: 9 })), /"need"/, "need ≤ held");
  assertThrows(
    () => decodeMessage(FrameType.REPORT, json({ ...SAMPLES[6][1] as object, status: "fine" })),
    /"status"/,
  );
});

Deno.test("messages: a JSON payload on a DATA frame type is rejected", () => {
  assertThrows(() => decodeMessage(FrameType.DATA, json({})), ProtocolError);
});

Deno.test("messages: DROP must name the child to drop and the nodes to adopt", () => {
  assertThrows(
    () => decodeMessage(FrameType.DROP, json({ code: "TIMEOUT", message: "x", adopt: [] })),
    /"node"/,
  );
  assertThrows(
    () => decodeMessage(FrameType.DROP, json({ code: "TIMEOUT", message: "x", node: "n" })),
    /"adopt"/,
  );
});

Deno.test("messages: nonces, proofs and sealed keys must have their exact shape", () => {
  const link = { deployment: "d", from: "a", to: "b" };
  assertThrows(() => decodeMessage(FrameType.LINK, json({ ...link, nonce: "xyz" })), /"nonce"/);
  assertThrows(() => decodeMessage(FrameType.LINK, json({ ...link, nonce: NONCE.toUpperCase() })), /"nonce"/);
  assertThrows(() => decodeMessage(FrameType.AUTH, json({ proof: NONCE.slice(2) })), /"proof"/);
  assertThrows(() => decodeMessage(FrameType.CHALLENGE, json({ nonce: "", proof: NONCE })), /"nonce"/);
  assertThrows(() => decodeMessage(FrameType.NEW_UPSTREAM, json({ upstream: "a", key: "ab" })), /"key"/);
  const hello = SAMPLES[0][1] as Record<string, unknown>;
  const { nonce: _, ...tokenless } = hello;
  assertEquals(decodeMessage(FrameType.HELLO, json(tokenless)).body, { ...tokenless, nonce: "" });
  const { phases: __, ...phaseless } = hello;
  assertEquals(decodeMessage(FrameType.HELLO, json(phaseless)).body, { ...phaseless, phases: [] });
});

Deno.test("messages: --tls announcements: HELLO may defer its data port (0) to DATA_PORT, which needs a real one; certificates are PEM", () => {
  const hello = SAMPLES[0][1] as Record<string, unknown>;
  assertEquals(decodeMessage(FrameType.HELLO, json({ ...hello, dataPort: 0 })).body, {
    ...hello,
    dataPort: 0,
  });
  assertThrows(() => decodeMessage(FrameType.HELLO, json({ ...hello, dataPort: 70000 })), /"dataPort"/);
  assertThrows(() => decodeMessage(FrameType.DATA_PORT, json({ port: 0 })), /"port"/);
  assertThrows(() => decodeMessage(FrameType.TLS_LINK_CERT, json({ cert: "MIIB", key: PEM_KEY })), /"cert"/);
  const huge = PEM_KEY + "A".repeat(32 * 1024);
  assertThrows(() => decodeMessage(FrameType.TLS_LINK_CERT, json({ cert: PEM_CERT, key: huge })), /"key"/);
});

Deno.test("messages: a phase (PHASE, or HELLO's pre-join list of at most 16) is a lowercase name with a short one-line detail", () => {
  const phase = { phase: "booted", ok: true, detail: "", end: false };
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, phase: "Booted" })), /"phase"/);
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, phase: "" })), /"phase"/);
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, phase: "a".repeat(33) })), /"phase"/);
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, ok: "yes" })), /"ok"/);
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, end: 1 })), /"end"/);
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, detail: "a\nb" })), /"detail"/);
  assertThrows(() => decodeMessage(FrameType.PHASE, json({ ...phase, detail: "x".repeat(513) })), /"detail"/);
  const hello = SAMPLES[0][1] as Record<string, unknown>;
  const many = Array.from({ length: 17 }, () => ({ phase: "booted", detail: "" }));
  assertThrows(() => decodeMessage(FrameType.HELLO, json({ ...hello, phases: many })), /"phases"/);
  assertThrows(
    () => decodeMessage(FrameType.HELLO, json({ ...hello, phases: [{ phase: "B", detail: "" }] })),
    /"phase"/,
  );
});

Deno.test("messages: HELLO's labels are at most 16 lowercase keys with short one-line values; absent is none", () => {
  const hello = SAMPLES[0][1] as Record<string, unknown>;
  const { labels: _, ...old } = hello;
  assertEquals((decodeMessage(FrameType.HELLO, json(old)).body as { labels: unknown }).labels, {});
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
  for (
    const labels of [many, { Rack: "r1" }, { rack: "" }, { rack: "a\nb" }, { rack: 1 }, ["rack"], {
      rack: "x".repeat(65),
    }]
  ) {
    assertThrows(
      () => decodeMessage(FrameType.HELLO, json({ ...hello, labels })),
      /"labels"/,
      JSON.stringify(labels),
    );
  }
});
