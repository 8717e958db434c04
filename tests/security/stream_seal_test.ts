/**
 * The stream seal: what the server seals, every node accepts once and in order; anything altered
 * or moved fails; and a node's chain of seals says whether it got the source's bytes.
 */

import { FRAME_HEADER_BYTES, FrameType, writeHeader } from "../../lib/protocol/frame.ts";
import { SEAL_TRAILER_BYTES, StreamSeal } from "../../lib/security/stream_seal.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));
const PAYLOAD = 4096;

/** A frame of `payload` at stream `offset`, with room for the trailer. */
function frame(payload: Uint8Array, offset: number): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + payload.length + SEAL_TRAILER_BYTES);
  writeHeader(new DataView(bytes.buffer), FrameType.DATA, payload.length, offset, 0, 1);
  bytes.set(payload, FRAME_HEADER_BYTES);
  return bytes;
}

const pieces = [1, 2, 3].map((i) => new Uint8Array(PAYLOAD).fill(i));

Deno.test("stream seal: a relay accepts the source's frames, and their chains agree", () => {
  const source = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  const relay = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  for (const [i, piece] of pieces.entries()) {
    const f = frame(piece, i * PAYLOAD);
    source.seal(f, true);
    assert(relay.check(f), `frame ${i}`);
  }
  assertEquals(relay.chainDigest(), source.chainDigest());
});

Deno.test("stream seal: one flipped bit in the header, the payload, the nonce or the tag fails the check", () => {
  const source = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  const sealed = frame(pieces[0], 0);
  source.seal(sealed, true);
  const relay = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  for (const at of [9, FRAME_HEADER_BYTES + 100, sealed.length - 16, sealed.length - 1]) {
    const altered = sealed.slice();
    altered[at] ^= 0x10;
    assert(!relay.check(altered), `bit flipped at byte ${at}`);
  }
  assert(relay.check(sealed));
});

Deno.test("stream seal: a key that is not the deployment's, and a frame moved to another offset, fail", () => {
  const source = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  const sealed = frame(pieces[0], 0);
  source.seal(sealed, true);
  assert(!new StreamSeal(crypto.getRandomValues(new Uint8Array(32)), 1 << 16, PAYLOAD).check(sealed));
  const moved = sealed.slice();
  new DataView(moved.buffer).setBigUint64(8, BigInt(PAYLOAD)); // the header's offset
  assert(!new StreamSeal(KEY, 1 << 16, PAYLOAD).check(moved));
});

Deno.test("stream seal: bytes read again for a repair keep the chain when alike, change it when the source changed", () => {
  const source = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  for (const [i, piece] of pieces.entries()) source.seal(frame(piece, i * PAYLOAD), true);
  const chain = source.chainDigest();
  // a node repaired from the server's history after its first frame: frames 2 and 3 come again
  const replay = (second: Uint8Array) => {
    const node = new StreamSeal(KEY, 1 << 16, PAYLOAD);
    const first = frame(pieces[0], 0);
    source.seal(first, false);
    assert(node.check(first));
    for (const [i, piece] of [second, pieces[2]].entries()) {
      const again = frame(piece, (i + 1) * PAYLOAD);
      source.seal(again, false); // a new nonce: never two messages under one
      assert(node.check(again), "the server's own seal is valid");
    }
    return node.chainDigest();
  };
  assertEquals(replay(pieces[1]), chain, "the same bytes again");
  assert(
    replay(new Uint8Array(PAYLOAD).fill(9)) !== chain,
    "a file that changed: the node's chain differs → HASH",
  );
});

Deno.test("stream seal: a frame in the arena is sealed in place, one elsewhere through the scratch room", () => {
  const source = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  const inArena = source.arena.subarray(128, 128 + FRAME_HEADER_BYTES + PAYLOAD + SEAL_TRAILER_BYTES);
  inArena.set(frame(pieces[1], 0));
  source.seal(inArena, true);
  const elsewhere = frame(pieces[1], 0);
  source.seal(elsewhere, false);
  const relay = new StreamSeal(KEY, 1 << 16, PAYLOAD);
  assert(relay.check(inArena.slice()));
  assert(new StreamSeal(KEY, 1 << 16, PAYLOAD).check(elsewhere));
});
