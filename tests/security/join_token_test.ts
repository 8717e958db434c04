import { checkToken, generateToken, MIN_TOKEN_LENGTH, tokenKey } from "../../lib/security/join_token.ts";
import { assertEquals, assertMatch, assertNotEquals, assertThrows } from "../_helpers/assert.ts";

Deno.test("join token: generated tokens are 32 base64url characters, all different", () => {
  const tokens = new Set(Array.from({ length: 100 }, generateToken));
  assertEquals(tokens.size, 100);
  for (const t of tokens) assertMatch(t, /^[A-Za-z0-9_-]{32}$/);
});

Deno.test("join token: a file's newline is dropped; short or spaced tokens are refused", () => {
  assertEquals(checkToken("abcdefghijklmnop\n", "f"), "abcdefghijklmnop");
  assertThrows(() => checkToken("x".repeat(MIN_TOKEN_LENGTH - 1), "f"), /ConfigError: .*too short/);
  assertThrows(() => checkToken("abcdefgh ijklmnopq", "f"), /white space/);
  assertNotEquals(tokenKey("abcdefghijklmnop"), tokenKey("abcdefghijklmnoq"));
});
