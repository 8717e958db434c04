import { lines } from "../../lib/text/lines.ts";
import { assertEquals } from "../_helpers/assert.ts";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks.map((c) => new TextEncoder().encode(c)));
}

Deno.test("lines: split across chunks, empty lines kept, a last line without newline kept", async () => {
  assertEquals(await Array.fromAsync(lines(streamOf("ab", "c\n\nd", "e\nf"))), ["abc", "", "de", "f"]);
});

Deno.test("lines: a line longer than the limit comes in pieces, nothing lost", async () => {
  assertEquals(await Array.fromAsync(lines(streamOf("abcdefg\nhij", "klmno"), 3)), [
    "abc",
    "def",
    "g",
    "hij",
    "klm",
    "no",
  ]);
});
