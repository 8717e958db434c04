/**
 * Link keys travel to the two ends of a data link inside their control messages, sealed
 * (ChaCha20-Poly1305, random nonce) under the receiving node's control-session seal key, and bound
 * to the link they are for: an eavesdropper on the control connection learns nothing, and a key
 * cannot be moved to another link.
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import { AuthError } from "../errors.ts";
import { fromHex, KEY_BYTES, toHex } from "./key_derivation.ts";
import { SEALED_KEY_HEX } from "../protocol/limits.ts";

export { SEALED_KEY_HEX } from "../protocol/limits.ts";

const NONCE = 12;
const TAG = 16;

/** Seals `key` for the holder of `sealKey`, bound to `context` (e.g. "n1→n2"). */
export function sealKey(sealKey: Uint8Array, key: Uint8Array, context: string): string {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE));
  const cipher = createCipheriv("chacha20-poly1305", sealKey, nonce, { authTagLength: TAG });
  cipher.setAAD(new TextEncoder().encode(context), { plaintextLength: KEY_BYTES });
  const sealed = cipher.update(key);
  cipher.final();
  const out = new Uint8Array(NONCE + KEY_BYTES + TAG);
  out.set(nonce);
  out.set(sealed, NONCE);
  out.set(cipher.getAuthTag(), NONCE + KEY_BYTES);
  return toHex(out);
}

/**
 * Opens a key sealed by {@link sealKey} for the same `context`.
 * @throws {AuthError} when it was not sealed with `sealKey` for `context`.
 */
export function openKey(sealKey: Uint8Array, sealed: string, context: string): Uint8Array {
  if (sealed.length !== SEALED_KEY_HEX || !/^[0-9a-f]+$/.test(sealed)) {
    throw new AuthError(`Malformed link key for ${context}`);
  }
  const bytes = fromHex(sealed);
  const decipher = createDecipheriv("chacha20-poly1305", sealKey, bytes.subarray(0, NONCE), {
    authTagLength: TAG,
  });
  decipher.setAAD(new TextEncoder().encode(context), { plaintextLength: KEY_BYTES });
  decipher.setAuthTag(bytes.subarray(NONCE + KEY_BYTES));
  const key = decipher.update(bytes.subarray(NONCE, NONCE + KEY_BYTES));
  try {
    decipher.final();
  } catch {
    throw new AuthError(`The link key for ${context} does not open with this node's session key`);
  }
  return new Uint8Array(key);
}
