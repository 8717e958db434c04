/**
 * UMAC-64 straight from RFC 4418's pseudocode, in BigInt arithmetic: slow, no SIMD, no memory
 * tricks — the yardstick the WebAssembly implementation is checked against on random messages.
 */

import { createCipheriv } from "node:crypto";

const P36 = 2n ** 36n - 5n;
const P64 = 2n ** 64n - 59n;
const M64 = 2n ** 64n;

function aesBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-128-ecb", key, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(block));
}

function kdf(key: Uint8Array, index: number, bytes: number): Uint8Array {
  const out: number[] = [];
  for (let i = 1; out.length < bytes; i++) {
    const t = new Uint8Array(16);
    new DataView(t.buffer).setBigUint64(0, BigInt(index));
    new DataView(t.buffer).setBigUint64(8, BigInt(i));
    out.push(...aesBlock(key, t));
  }
  return Uint8Array.from(out.slice(0, bytes));
}

function uint(bytes: Uint8Array): bigint {
  let x = 0n;
  for (const b of bytes) x = (x << 8n) | BigInt(b);
  return x;
}

function nh(key: Uint8Array, m: Uint8Array): bigint {
  // ENDIAN-SWAP each 32-bit word of the message, then read words big-endian
  const words = (b: Uint8Array, swap: boolean) =>
    Array.from({ length: b.length / 4 }, (_, i) => {
      const w = b.subarray(4 * i, 4 * i + 4);
      return uint(swap ? Uint8Array.from(w).reverse() : w);
    });
  const mw = words(m, true);
  const kw = words(key.subarray(0, m.length), false);
  let y = 0n;
  for (let i = 0; i < mw.length; i += 8) {
    for (let j = 0; j < 4; j++) {
      y += ((mw[i + j] + kw[i + j]) % 2n ** 32n) * ((mw[i + j + 4] + kw[i + j + 4]) % 2n ** 32n);
    }
  }
  return y % M64;
}

function l1(key: Uint8Array, m: Uint8Array): bigint[] {
  const out: bigint[] = [];
  const t = Math.max(1, Math.ceil(m.length / 1024));
  for (let i = 0; i < t; i++) {
    const chunk = m.subarray(1024 * i, Math.min(m.length, 1024 * (i + 1)));
    const padded = new Uint8Array(Math.max(32, Math.ceil(chunk.length / 32) * 32));
    padded.set(chunk);
    out.push((nh(key, padded) + BigInt(chunk.length * 8)) % M64);
  }
  return out;
}

function poly64(k: bigint, words: bigint[]): bigint {
  let y = 1n;
  for (const m of words) {
    if (m >= M64 - 2n ** 32n) {
      y = (k * y + (P64 - 1n)) % P64;
      y = (k * y + (m - 59n)) % P64;
    } else y = (k * y + m) % P64;
  }
  return y;
}

function l3(k1: Uint8Array, k2: Uint8Array, b: bigint): number {
  let y = 0n;
  for (let j = 0; j < 8; j++) {
    const m = (b >> BigInt(16 * (7 - j))) & 0xffffn;
    y += m * (uint(k1.subarray(8 * j, 8 * j + 8)) % P36);
  }
  return Number((y % P36) % 2n ** 32n) ^ Number(uint(k2));
}

/** The UMAC-64 tag of `message` under `key` (16 bytes) and an 8-byte `nonce`. */
export function umac64Reference(key: Uint8Array, message: Uint8Array, nonce: Uint8Array): Uint8Array {
  const l1Key = kdf(key, 1, 1024 + 16);
  const l2Key = kdf(key, 2, 48);
  const l3Key1 = kdf(key, 3, 128);
  const l3Key2 = kdf(key, 4, 8);
  const tag = new Uint8Array(8);
  for (let i = 0; i < 2; i++) {
    const a = l1(l1Key.subarray(16 * i, 16 * i + 1024), message);
    const b = message.length <= 1024
      ? a[0]
      : poly64(uint(l2Key.subarray(24 * i, 24 * i + 8)) & 0x01ffffff01ffffffn, a);
    const c = l3(l3Key1.subarray(64 * i, 64 * i + 64), l3Key2.subarray(4 * i, 4 * i + 4), b);
    new DataView(tag.buffer).setUint32(4 * i, c >>> 0);
  }
  const index = nonce[7] & 1;
  const block = new Uint8Array(16);
  block.set(nonce);
  block[7] &= 0xfe;
  const pad = aesBlock(kdf(key, 0, 16), block).subarray(8 * index, 8 * index + 8);
  return tag.map((t, i) => t ^ pad[i]);
}
