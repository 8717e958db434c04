/**
 * UMAC-64 (RFC 4418): a 64-bit message authentication code built on universal hashing, the MAC
 * OpenSSH ships as umac-64. The hash (NH, POLY64, L3) runs in WebAssembly with 128-bit SIMD
 * (umac64.wat); key derivation and the pad are AES-128 from node:crypto. Its messages live in the
 * instance's own memory ({@link Umac64.region}), so a ring of frames placed there is tagged and
 * checked where it lies, without a copy.
 *
 * Chosen by measurement (bench/frame_mac_bench.ts, 256 KiB frames, one core of this 2-core
 * machine): UMAC-64 3.3 GB/s against ChaCha20-Poly1305 0.93 GB/s (node:crypto), HMAC-SHA256
 * 0.14 GB/s, keyed BLAKE3 0.20 GB/s (WebAssembly). A forgery succeeds with probability about
 * 2^-60 per attempt, and a failed attempt ends the link; each nonce must tag one message only.
 *
 * @module
 */

import { createCipheriv } from "node:crypto";
import { UMAC64_WASM_BASE64 } from "./umac64_wasm.ts";

/** Bytes of a UMAC-64 tag. */
export const UMAC64_TAG_BYTES = 8;
/** Bytes of a UMAC-64 key (an AES-128 key). */
export const UMAC64_KEY_BYTES = 16;
/** Longest message (RFC 4418's POLY64 range; kad frames are at most 4 MiB). */
export const UMAC64_MAX_MESSAGE = (1 << 24) - 1;

/** Where the caller's messages start in the instance's memory (below: keys and scratch, umac64.wat). */
const REGION_START = 4096;
const NH_KEY = 0;
const POLY_KEYS = 1088;
const L3_KEYS = 1104;
const OUTPUT = 1280;
const PAGE = 65536;
const PRIME36 = 2n ** 36n - 5n;
const MASK64 = 0x01ffffff01ffffffn;

let compiled: WebAssembly.Module | null = null;

/** The compiled module, once per process. */
function wasmModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(Uint8Array.from(atob(UMAC64_WASM_BASE64), (c) => c.charCodeAt(0)));
  return compiled;
}

/** UMAC-64 under one key, over messages placed in its {@link region}. */
export class Umac64 {
  /** The caller's part of the instance's memory: messages to tag or check are placed here. */
  readonly region: Uint8Array;
  readonly #memory: Uint8Array;
  readonly #uhash: (at: number, length: number) => void;
  /** The L3 output keys of iterations 1 and 2, xored into the hash. */
  readonly #l3Out: Uint8Array;
  readonly #pdf: ReturnType<typeof createCipheriv>;
  /** The last PDF input (a nonce with its low bit cleared, zero-padded) and its pad block. */
  readonly #padBlock = new Uint8Array(16);
  readonly #pad = new Uint8Array(16);
  #padValid = false;

  /** An instance keyed by `key` ({@link UMAC64_KEY_BYTES} bytes) with `regionBytes` of message room. */
  constructor(key: Uint8Array, regionBytes: number) {
    if (key.length !== UMAC64_KEY_BYTES) throw new RangeError(`A UMAC-64 key has ${UMAC64_KEY_BYTES} bytes`);
    const memory = new WebAssembly.Memory({ initial: Math.ceil((REGION_START + regionBytes) / PAGE) });
    const instance = new WebAssembly.Instance(wasmModule(), { env: { memory } });
    this.#uhash = instance.exports.uhash as (at: number, length: number) => void;
    this.#memory = new Uint8Array(memory.buffer);
    this.region = this.#memory.subarray(REGION_START, REGION_START + regionBytes);
    const view = new DataView(memory.buffer);
    // NH key: big-endian words as numbers, stored in native order
    const nhKey = kdf(key, 1, 1024 + 16);
    const nhView = new DataView(nhKey.buffer);
    for (let i = 0; i < nhKey.length; i += 4) view.setUint32(NH_KEY + i, nhView.getUint32(i), true);
    const l2 = new DataView(kdf(key, 2, 2 * 24).buffer);
    const l3 = new DataView(kdf(key, 3, 2 * 64).buffer);
    for (let iteration = 0; iteration < 2; iteration++) {
      view.setBigUint64(POLY_KEYS + 8 * iteration, l2.getBigUint64(24 * iteration) & MASK64, true);
      for (let word = 0; word < 8; word++) {
        const k = l3.getBigUint64(64 * iteration + 8 * word) % PRIME36;
        view.setBigUint64(L3_KEYS + 64 * iteration + 8 * word, k, true);
      }
    }
    this.#l3Out = kdf(key, 4, 2 * 4);
    this.#pdf = aes(kdf(key, 0, 16));
  }

  /**
   * Writes the tag of the `length` bytes at `at` in {@link region}, under the 8-byte `nonce`,
   * into `out` (8 bytes).
   */
  tag(at: number, length: number, nonce: Uint8Array, out: Uint8Array): void {
    const hash = this.hash(at, length);
    const pad = this.#padOf(nonce);
    const half = (nonce[7] & 1) * 8;
    for (let i = 0; i < 8; i++) out[i] = hash[i] ^ pad[half + i];
  }

  /**
   * UHASH-64 of the `length` bytes at `at` in {@link region}: the tag before its pad, the same
   * whatever the nonce, and secret (only the key's holders can compute it). Valid until the next
   * call.
   */
  hash(at: number, length: number): Uint8Array {
    if (length > UMAC64_MAX_MESSAGE || at < 0 || at + length > this.region.length) {
      throw new RangeError(`A UMAC-64 message of ${length} bytes at ${at} is out of range`);
    }
    this.#uhash(REGION_START + at, length);
    const out = this.#hashOut;
    for (let i = 0; i < 8; i++) out[i] = this.#memory[OUTPUT + i] ^ this.#l3Out[i];
    return out;
  }
  readonly #hashOut = new Uint8Array(UMAC64_TAG_BYTES);

  /**
   * Whether `tag` is the tag of the `length` bytes at `at` in {@link region} under `nonce`. Their
   * hash ({@link hash}) is in {@link lastHash} afterwards.
   */
  verify(at: number, length: number, nonce: Uint8Array, tag: Uint8Array): boolean {
    const expected = this.#expected;
    this.tag(at, length, nonce, expected);
    let diff = 0;
    for (let i = 0; i < UMAC64_TAG_BYTES; i++) diff |= expected[i] ^ tag[i];
    return diff === 0;
  }
  readonly #expected = new Uint8Array(UMAC64_TAG_BYTES);

  /** The hash the last {@link tag}, {@link verify} or {@link hash} computed. */
  get lastHash(): Uint8Array {
    return this.#hashOut;
  }

  /** The pad block of RFC 4418's PDF for `nonce` (its low bit cleared, zero-padded, AES). */
  #padOf(nonce: Uint8Array): Uint8Array {
    const block = this.#padBlock;
    let same = this.#padValid && (block[7] === (nonce[7] & 0xfe));
    for (let i = 0; same && i < 7; i++) same = block[i] === nonce[i];
    if (same) return this.#pad;
    block.set(nonce.subarray(0, 8));
    block[7] &= 0xfe;
    block.fill(0, 8);
    this.#pad.set(this.#pdf.update(block));
    this.#padValid = true;
    return this.#pad;
  }
}

/** An AES-128 block encryptor (ECB, one block per update). */
function aes(key: Uint8Array): ReturnType<typeof createCipheriv> {
  const cipher = createCipheriv("aes-128-ecb", key, null);
  cipher.setAutoPadding(false);
  return cipher;
}

/** RFC 4418's KDF: AES-128 of (index, i) blocks for i = 1, 2…, the first `bytes` of them. */
function kdf(key: Uint8Array, index: number, bytes: number): Uint8Array {
  const cipher = aes(key);
  const out = new Uint8Array(Math.ceil(bytes / 16) * 16);
  const block = new Uint8Array(16);
  const view = new DataView(block.buffer);
  for (let i = 1; i * 16 <= out.length; i++) {
    view.setBigUint64(0, BigInt(index));
    view.setBigUint64(8, BigInt(i));
    out.set(cipher.update(block), (i - 1) * 16);
  }
  return out.subarray(0, bytes);
}
