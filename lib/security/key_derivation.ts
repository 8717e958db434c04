/**
 * Key derivation and the small primitives of the handshakes: HMAC-SHA256 over a label and
 * length-prefixed parts (so no two different part lists hash alike), random nonces, and a
 * constant-time comparison. node:crypto lives in this file and in frame_mac.ts only.
 *
 * @module
 */

import { createHmac, timingSafeEqual } from "node:crypto";

/** Bytes of every derived key and proof. */
export const KEY_BYTES = 32;

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 32;

/** A part of a derivation: text, bytes or a non-negative integer. */
export type KeyPart = string | Uint8Array | number;

/** HMAC-SHA256(`key`, label ‖ each part length-prefixed): a proof, or a key bound to every part. */
export function deriveKey(key: Uint8Array, label: string, ...parts: KeyPart[]): Uint8Array {
  const mac = createHmac("sha256", key);
  for (const part of [label, ...parts]) {
    const bytes = typeof part === "string"
      ? new TextEncoder().encode(part)
      : typeof part === "number"
      ? new TextEncoder().encode(String(part))
      : part;
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length);
    mac.update(length);
    mac.update(bytes);
  }
  return new Uint8Array(mac.digest());
}

/** A fresh random nonce, as lowercase hex (it travels in JSON). */
export function randomNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
}

/** Compares a received proof (hex) with the expected bytes in constant time. */
export function proofMatches(received: string, expected: Uint8Array): boolean {
  if (received.length !== expected.length * 2 || !/^[0-9a-f]+$/.test(received)) return false;
  return timingSafeEqual(fromHex(received), expected);
}

/**
 * Whether a secret someone presented (a password, a bearer token) is `expected`, compared in a time
 * that depends on neither where they differ nor their lengths (both are hashed first).
 */
export function secretMatches(given: string, expected: string): boolean {
  const digest = (text: string) => createHmac("sha256", "kad/2 secret compare").update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/** Bytes of a lowercase hex string (checked by the caller). */
export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A fresh random key (a link key). */
export function randomKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}
