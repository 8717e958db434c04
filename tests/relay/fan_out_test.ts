import { FanOut, type FanOutput } from "../../lib/relay/fan_out.ts";
import { FRAME_HEADER_BYTES } from "../../lib/protocol/frame.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

/** An output that records payload bytes, optionally gated so a test can stall it. */
class RecordingOutput implements FanOutput {
  readonly seen: number[] = [];
  gate: Promise<void> = Promise.resolve();
  failAt = -1;
  constructor(readonly name: string, readonly view: "frame" | "payload" = "payload") {}
  async write(bytes: Uint8Array): Promise<void> {
    await this.gate;
    if (this.seen.length === this.failAt) throw new Error(`${this.name} broke`);
    this.seen.push(this.view === "frame" ? bytes[FRAME_HEADER_BYTES] : bytes[0]);
  }
}

async function produce(fanOut: FanOut, count: number, onPublished?: (i: number) => void): Promise<void> {
  for (let i = 0; i < count; i++) {
    const slot = await fanOut.acquire();
    slot.payloadArea[0] = i;
    slot.length = 1;
    fanOut.publish(slot);
    onPublished?.(i);
  }
}

Deno.test("fan-out: every output receives every slot in order", async () => {
  const a = new RecordingOutput("a");
  const b = new RecordingOutput("b", "frame");
  const fanOut = new FanOut([a, b], { slots: 3, slotBytes: 16 });
  await produce(fanOut, 50);
  await fanOut.finish();
  const expected = Array.from({ length: 50 }, (_, i) => i);
  assertEquals(a.seen, expected);
  assertEquals(b.seen, expected);
});

Deno.test("fan-out: a stalled writer holds the producer at the ring size (backpressure, bounded memory)", async () => {
  const fast = new RecordingOutput("fast");
  const stalled = new RecordingOutput("stalled");
  let release!: () => void;
  stalled.gate = new Promise((r) => release = r);
  const fanOut = new FanOut([fast, stalled], { slots: 4, slotBytes: 16 });
  let published = 0;
  const producing = produce(fanOut, 100, () => published++);
  await new Promise((r) => setTimeout(r, 50));
  // 4 slots in the ring: the producer cannot get further than 4 slots ahead of the slowest output
  assertEquals(published, 4);
  assert(fast.seen.length <= 4);
  release();
  await producing;
  await fanOut.finish();
  assertEquals(stalled.seen.length, 100);
  assertEquals(fast.seen.length, 100);
});

Deno.test("fan-out: a failing output is skipped and reported once; the others complete", async () => {
  const good = new RecordingOutput("good");
  const bad = new RecordingOutput("bad");
  bad.failAt = 5;
  const errors: string[] = [];
  const fanOut = new FanOut([good, bad], {
    slots: 2,
    slotBytes: 16,
    onOutputError: (output, error) => errors.push(`${output.name}: ${(error as Error).message}`),
  });
  await produce(fanOut, 20);
  await fanOut.finish();
  assertEquals(good.seen.length, 20);
  assertEquals(bad.seen.length, 5);
  assertEquals(errors, ["bad: bad broke"]);
  assertEquals(fanOut.failedOutputs, ["bad"]);
  assertEquals(fanOut.liveOutputs, 1);
});

Deno.test("fan-out: with no outputs the producer never blocks", async () => {
  const fanOut = new FanOut([], { slots: 2, slotBytes: 16 });
  await produce(fanOut, 10);
  await fanOut.finish();
});

Deno.test("fan-out: slots are reused, not reallocated", async () => {
  const fanOut = new FanOut([new RecordingOutput("a")], { slots: 2, slotBytes: 16 });
  const buffers = new Set<ArrayBufferLike>();
  for (let i = 0; i < 10; i++) {
    const slot = await fanOut.acquire();
    buffers.add(slot.bytes.buffer);
    slot.length = 1;
    fanOut.publish(slot);
  }
  await fanOut.finish();
  assertEquals(buffers.size, 2);
});

Deno.test("fan-out: finish with a deadline fails and aborts a writer still stuck, and returns", async () => {
  const stuck = new RecordingOutput("stuck");
  let release!: () => void;
  stuck.gate = new Promise((r) => release = r);
  let aborted = false;
  const output = Object.assign(stuck, { abort: () => (aborted = true, release()) });
  const errors: string[] = [];
  const fanOut = new FanOut([output], {
    slots: 2,
    slotBytes: 16,
    onOutputError: (_o, error) => errors.push((error as Error).message),
  });
  await produce(fanOut, 1);
  await fanOut.finish(100);
  assert(aborted);
  assertEquals(errors, ["Writing to stuck did not finish within 0.1 s"]);
});
