/**
 * The stream MAC candidates over one frame (a slot: 128 KiB and its header), one core: what
 * lib/security/umac64.ts chose by. XXH128, the hash an unsealed node computes, is the yardstick.
 * `deno task bench:micro` runs it; GB/s = 131 088 bytes / the time per iteration.
 */

import { createCipheriv, createHmac } from "node:crypto";
import { createBLAKE3 } from "hash-wasm";
import { FrameAuth } from "../lib/security/frame_mac.ts";
import { Umac64 } from "../lib/security/umac64.ts";
import { createStreamHasher } from "../lib/integrity/stream_hash.ts";
import { DEFAULT_SLOT_BYTES } from "../lib/relay/fan_out.ts";

const key = new Uint8Array(32).fill(9);
const header = new Uint8Array(16);
const payload = new Uint8Array(DEFAULT_SLOT_BYTES).map((_, i) => (i * 7919) & 0xff);
const iv = new Uint8Array(12);
const blake3 = await createBLAKE3(256, key);
const auth = new FrameAuth(key, key);
const umac = new Umac64(key.subarray(0, 16), header.length + payload.length);
umac.region.set(header);
umac.region.set(payload, header.length);
const nonce = new Uint8Array(8);
const tag = new Uint8Array(8);
const xxh128 = await createStreamHasher("xxh128");

Deno.bench("stream MAC: UMAC-64 (RFC 4418, WebAssembly SIMD; kad's choice)", { baseline: true }, () => {
  nonce[7]++;
  umac.tag(0, header.length + payload.length, nonce, tag);
});
Deno.bench("stream MAC: ChaCha20-Poly1305, frame as associated data (node:crypto)", () => {
  auth.sign(header, payload);
});
Deno.bench("stream MAC: HMAC-SHA256 (node:crypto)", () => {
  createHmac("sha256", key).update(header).update(payload).digest();
});
Deno.bench("stream MAC: AES-256-GCM as GMAC (node:crypto)", () => {
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(header);
  c.setAAD(payload);
  c.final();
  c.getAuthTag();
});
Deno.bench("stream MAC: BLAKE3 keyed (WebAssembly)", () => {
  blake3.init();
  blake3.update(header);
  blake3.update(payload);
  blake3.digest("binary");
});
Deno.bench("yardstick: XXH128 stream hash (WebAssembly), not a MAC", () => {
  xxh128.update(payload);
});
