/**
 * A restarted node takes up its kept copy: read back through the stream's integrity check, it
 * leaves the check where receiving those bytes would have — and bytes that changed meanwhile make
 * it differ.
 */

import { join } from "node:path";
import { createStreamHasher } from "../../lib/integrity/stream_hash.ts";
import { takeUpKeptCopy } from "../../lib/node/kept_copy.ts";
import { FRAME_HEADER_BYTES, FrameType, writeHeader } from "../../lib/protocol/frame.ts";
import { SEAL_TRAILER_BYTES, StreamSeal } from "../../lib/security/stream_seal.ts";
import { assertEquals, assertNotEquals, assertRejects } from "../_helpers/assert.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));
const FRAME = 4096;
const pieces = [1, 2, 3, 4, 5].map((i) => crypto.getRandomValues(new Uint8Array(FRAME)).fill(i, 0, 8));

/** The source's sealed frame of `payload` at `offset`. */
function sealedFrame(source: StreamSeal, payload: Uint8Array, offset: number): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES + payload.length + SEAL_TRAILER_BYTES);
  writeHeader(new DataView(bytes.buffer), FrameType.DATA, payload.length, offset, 0, 1);
  bytes.set(payload, FRAME_HEADER_BYTES);
  source.seal(bytes, true);
  return bytes;
}

async function keep(path: string, frames: number, change = false): Promise<void> {
  const kept = new Uint8Array(frames * FRAME);
  pieces.slice(0, frames).forEach((p, i) => kept.set(p, i * FRAME));
  if (change) kept[FRAME + 7] ^= 1;
  await Deno.writeFile(path, kept);
}

/** The chain of a node that kept `kept` frames (one byte changed with `change`), then checked the rest. */
async function chainAfterTakingUp(
  kept: number,
  change: boolean,
): Promise<{ resumed: string; source: string }> {
  await using dir = await tempDir();
  const path = join(dir.path, "partial");
  await keep(path, kept, change);
  const source = new StreamSeal(KEY, 1 << 16, FRAME);
  const frames = pieces.map((p, i) => sealedFrame(source, p, i * FRAME));
  const resumed = new StreamSeal(KEY, 1 << 16, FRAME);
  await takeUpKeptCopy(path, kept * FRAME, FRAME, resumed);
  for (const f of frames.slice(kept)) resumed.check(f);
  return { resumed: resumed.chainDigest(), source: source.chainDigest() };
}

Deno.test("kept copy: 2 frames read back, then 3 checked → the chain of a node that checked all 5", async () => {
  const { resumed, source } = await chainAfterTakingUp(2, false);
  assertEquals(resumed, source);
});

Deno.test("kept copy: a byte that changed while the node was down → a chain that differs", async () => {
  const { resumed, source } = await chainAfterTakingUp(2, true);
  assertNotEquals(resumed, source);
});

Deno.test("kept copy: unsealed (--insecure), the stream hash goes on over the bytes kept", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "partial");
  await keep(path, 3);
  const whole = await createStreamHasher("xxh128");
  for (const p of pieces) whole.update(p);
  const resumed = await createStreamHasher("xxh128");
  await takeUpKeptCopy(path, 3 * FRAME, FRAME, resumed);
  for (const p of pieces.slice(3)) resumed.update(p);
  assertEquals(resumed.digest(), whole.digest());
});

Deno.test("kept copy: shorter than it claims → LWF, not a silently short copy", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "partial");
  await keep(path, 1);
  await assertRejects(
    () => takeUpKeptCopy(path, 2 * FRAME, FRAME, new StreamSeal(KEY, 1 << 16, FRAME)),
    /ended at/,
  );
});
