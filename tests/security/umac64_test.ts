import { Umac64 } from "../../lib/security/umac64.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { umac64Reference } from "../_helpers/umac_reference.ts";
import { generatedModule } from "../../tools/build_wasm.ts";

const KEY = new TextEncoder().encode("abcdefghijklmnop");
const NONCE = new TextEncoder().encode("bcdefghi");

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
}

function tagOf(umac: Umac64, message: Uint8Array, nonce: Uint8Array, at = 0): string {
  umac.region.set(message, at);
  const out = new Uint8Array(8);
  umac.tag(at, message.length, nonce, out);
  return hex(out);
}

const repeat = (text: string, times: number) => new TextEncoder().encode(text.repeat(times));

Deno.test("umac-64: the test vectors of RFC 4418 (up to 2^20 bytes: kad frames need no POLY128)", () => {
  const umac = new Umac64(KEY, 1 << 21);
  const vectors: [Uint8Array, string][] = [
    [new Uint8Array(0), "6E155FAD26900BE1"],
    [repeat("a", 3), "44B5CB542F220104"],
    [repeat("a", 1 << 10), "26BF2F5D60118BD9"],
    [repeat("a", 1 << 15), "27F8EF643B0D118D"],
    [repeat("a", 1 << 20), "A4477E87E9F55853"],
    [repeat("abc", 1), "D4D7B9F6BD4FBFCF"],
    [repeat("abc", 500), "D4CF26DDEFD5C01A"],
  ];
  for (const [message, expected] of vectors) assertEquals(tagOf(umac, message, NONCE), expected);
});

Deno.test("umac-64: equals the RFC's pseudocode (BigInt) on random messages, lengths, offsets and nonces", () => {
  const key = crypto.getRandomValues(new Uint8Array(16));
  const umac = new Umac64(key, 1 << 16);
  const lengths = [0, 1, 31, 32, 33, 1023, 1024, 1025, 2048, 4095, 5000, 65536 - 64];
  for (const length of lengths) {
    const message = crypto.getRandomValues(new Uint8Array(length));
    const nonce = crypto.getRandomValues(new Uint8Array(8));
    const at = length % 7; // unaligned too
    assertEquals(
      tagOf(umac, message, nonce, at),
      hex(umac64Reference(key, message, nonce)),
      `${length} bytes`,
    );
  }
  // words at the top of POLY64's range take its marker path
  const high = new Uint8Array(4096).fill(0xff);
  assertEquals(tagOf(umac, high, NONCE), hex(umac64Reference(key, high, NONCE)));
});

Deno.test("umac-64: nonces that differ in the low bit take the two halves of one pad block", () => {
  const umac = new Umac64(KEY, 4096);
  const message = repeat("kad", 100);
  const even = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 42]);
  const odd = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 43]);
  const tags = [even, odd, even].map((nonce) => tagOf(umac, message, nonce));
  assertEquals(tags[0], tags[2]);
  assert(tags[0] !== tags[1]);
  assertEquals(tags[1], hex(umac64Reference(KEY, message, odd)));
});

Deno.test("umac-64: verify accepts the tag and refuses a flipped bit in the message, the tag or the nonce", () => {
  const umac = new Umac64(KEY, 4096);
  const message = repeat("stream", 200);
  umac.region.set(message);
  const tag = new Uint8Array(8);
  umac.tag(0, message.length, NONCE, tag);
  assert(umac.verify(0, message.length, NONCE, tag));
  umac.region[17] ^= 1;
  assert(!umac.verify(0, message.length, NONCE, tag), "a flipped message bit");
  umac.region[17] ^= 1;
  const badTag = tag.slice();
  badTag[7] ^= 0x80;
  assert(!umac.verify(0, message.length, NONCE, badTag), "a flipped tag bit");
  const otherNonce = NONCE.slice();
  otherNonce[0] ^= 1;
  assert(!umac.verify(0, message.length, otherNonce, tag), "another nonce");
});

Deno.test("umac-64: the embedded module is umac64.wat as assembled now (deno task wasm)", async () => {
  const wat = await Deno.readTextFile(new URL("../../lib/security/umac64.wat", import.meta.url));
  const embedded = await Deno.readTextFile(new URL("../../lib/security/umac64_wasm.ts", import.meta.url));
  assertEquals(await generatedModule(wat), embedded);
});
