/**
 * Random and mutated kad frames from a seeded generator, so a failing case can be replayed.
 */

import {
  encodeJsonFrame,
  FLAG_MAC,
  FRAME_HEADER_BYTES,
  FrameType,
  writeHeader,
} from "../../lib/protocol/frame.ts";

/** A small seeded PRNG (mulberry32). */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const NONCE = "0f".repeat(32);

/** Well-formed frames of every kind, the seeds of mutation. */
export const VALID_FRAMES: Uint8Array[] = [
  encodeJsonFrame(FrameType.HELLO, {
    version: 1,
    name: "fuzz",
    dataHost: "",
    dataPort: 9,
    sink: "null",
    features: [],
    nonce: NONCE,
  }),
  encodeJsonFrame(FrameType.AUTH, { proof: NONCE }),
  encodeJsonFrame(FrameType.LINK, { deployment: "d", from: "server", to: "fuzz", nonce: NONCE }),
  encodeJsonFrame(FrameType.LINK_AUTH, { proof: NONCE }),
  encodeJsonFrame(FrameType.LINK_OK, { offset: 0 }),
  encodeJsonFrame(FrameType.TLS_LINK_CERT, {
    cert: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
    key: "-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n",
  }),
  encodeJsonFrame(FrameType.DATA_PORT, { port: 9 }),
  encodeJsonFrame(FrameType.PHASE, { phase: "booted", ok: true, detail: "uptime 3 s", end: false }),
  encodeJsonFrame(FrameType.PLAN, {
    deployment: "d",
    position: 0,
    nodeCount: 1,
    upstream: "server",
    upstreamKey: "",
    children: [{ name: "x", host: "127.0.0.1", port: 9, key: "" }],
    hashAlgorithm: "xxh128",
    streamBytes: null,
  }),
  encodeJsonFrame(FrameType.REPORT, {
    status: "ok",
    error: null,
    bytes: 1,
    hash: "ab",
    seconds: 1,
    links: [],
  }),
  encodeJsonFrame(FrameType.DROP, { code: "NNF", message: "x", node: "a", adopt: [] }),
  encodeJsonFrame(FrameType.END, { bytes: 4, hash: "ab", algorithm: "xxh128", seals: "", rawBytes: null }),
  encodeJsonFrame(FrameType.ACK, { held: 1 << 20, need: 1 << 19 }),
  dataFrame(new Uint8Array(300).fill(7), 0),
];

function dataFrame(payload: Uint8Array, flags: number): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeHeader(new DataView(frame.buffer), FrameType.DATA, payload.length, 0, 0, flags);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/** One fuzzed frame: random bytes, a valid frame with bytes flipped, truncated, extended or re-headed. */
export function fuzzFrame(random: Random): Uint8Array {
  const base = VALID_FRAMES[random.int(VALID_FRAMES.length)];
  switch (random.int(6)) {
    case 0:
      return random.bytes(random.int(64));
    case 1: { // flip a few bytes anywhere
      const out = base.slice();
      for (let i = random.int(4) + 1; i > 0; i--) out[random.int(out.length)] = random.int(256);
      return out;
    }
    case 2: // truncated
      return base.slice(0, random.int(base.length));
    case 3: { // a header that lies about the length, or a random type, or the MAC flag
      const out = base.slice();
      const view = new DataView(out.buffer);
      const field = random.int(3);
      if (field === 0) view.setUint32(4, random.int(2) ? random.int(1 << 24) : 0xffffffff);
      else if (field === 1) out[1] = random.int(256);
      else view.setUint16(2, random.int(2) ? FLAG_MAC : random.int(65536));
      return out;
    }
    case 4: { // valid header, JSON payload replaced by junk of the same length
      const out = base.slice();
      out.set(random.bytes(out.length - FRAME_HEADER_BYTES), FRAME_HEADER_BYTES);
      return out;
    }
    default:
      return base;
  }
}
