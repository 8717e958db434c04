/**
 * The frame MAC candidates over one 256 KiB frame (a slot), one core: what lib/security/frame_mac.ts
 * chose by. `deno task bench:micro` runs it; MB/s = 262 144 bytes / the time per iteration.
 */

import { createCipheriv, createHmac } from "node:crypto";
import { createBLAKE3 } from "hash-wasm";
import { FrameAuth } from "../lib/security/frame_mac.ts";

const key = new Uint8Array(32).fill(9);
const header = new Uint8Array(16);
const payload = new Uint8Array(256 * 1024).map((_, i) => (i * 7919) & 0xff);
const iv = new Uint8Array(12);
const blake3 = await createBLAKE3(256, key);
const auth = new FrameAuth(key, key);

Deno.bench(
  "frame MAC: ChaCha20-Poly1305, frame as associated data (kad's choice)",
  { baseline: true },
  () => {
    auth.sign(header, payload);
  },
);
Deno.bench("frame MAC: HMAC-SHA256 (node:crypto)", () => {
  createHmac("sha256", key).update(header).update(payload).digest();
});
Deno.bench("frame MAC: AES-256-GCM as GMAC (node:crypto)", () => {
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(header);
  c.setAAD(payload);
  c.final();
  c.getAuthTag();
});
Deno.bench("frame MAC: BLAKE3 keyed (WebAssembly)", () => {
  blake3.init();
  blake3.update(header);
  blake3.update(payload);
  blake3.digest("binary");
});
