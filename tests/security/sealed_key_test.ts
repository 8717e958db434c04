import { AuthError } from "../../lib/errors.ts";
import { randomKey } from "../../lib/security/key_derivation.ts";
import { openKey, sealKey } from "../../lib/security/sealed_key.ts";
import { SEALED_KEY_HEX } from "../../lib/protocol/limits.ts";
import { assertEquals, assertNotEquals, assertThrows } from "../_helpers/assert.ts";

Deno.test("sealed key: opens only with the node's seal key and for the link it was sealed for", () => {
  const seal = randomKey();
  const key = randomKey();
  const sealed = sealKey(seal, key, "d a→b");
  assertEquals(openKey(seal, sealed, "d a→b"), key);
  assertNotEquals(sealKey(seal, key, "d a→b"), sealed, "a fresh nonce every time");
  assertThrows(() => openKey(randomKey(), sealed, "d a→b"), AuthError);
  assertThrows(() => openKey(seal, sealed, "d a→c"), AuthError);
  assertThrows(() => openKey(seal, sealed.slice(2), "d a→b"), AuthError);
});

Deno.test("sealed key: its size is the protocol's (a 12-byte nonce, the key, a 16-byte tag, in hex)", () => {
  const sealed = sealKey(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2), "a→b");
  assertEquals(sealed.length, SEALED_KEY_HEX);
});
