import {
  type ByteHistory,
  FanOut,
  type FanOutput,
  NotRetainedError,
  relayFanOut,
} from "../../lib/relay/fan_out.ts";
import { SEAL_TRAILER_BYTES } from "../../lib/security/stream_seal.ts";
import { decodeHeader, FRAME_HEADER_BYTES } from "../../lib/protocol/frame.ts";
import { assert, assertEquals, assertSettlesWithin, assertThrows } from "../_helpers/assert.ts";

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
  await assertSettlesWithin(produce(fanOut, 10), 1000, "producing with no outputs");
  await assertSettlesWithin(fanOut.finish(), 1000, "finishing with no outputs");
  assertEquals(fanOut.producedBytes, 10);
});

Deno.test("fan-out: every slot lives in the one arena allocated up front", async () => {
  const fanOut = new FanOut([new RecordingOutput("a")], { slots: 2, slotBytes: 16 });
  const buffers = new Set<ArrayBufferLike>();
  for (let i = 0; i < 10; i++) {
    const slot = await fanOut.acquire();
    buffers.add(slot.payloadArea.buffer);
    slot.length = 1;
    fanOut.publish(slot);
  }
  await fanOut.finish();
  assertEquals(buffers.size, 1);
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

/** A frame output that checks offsets continue and keeps the stream it received. */
class StreamOutput implements FanOutput {
  readonly view = "frame";
  readonly chunks: Uint8Array[] = [];
  expected: number;
  gate: Promise<void> = Promise.resolve();
  /** Called after each whole frame (a child acknowledging what it holds). */
  onFrame?: (output: StreamOutput) => void;
  #pendingHeader: { length: number; offset: number } | null = null;
  constructor(readonly name: string, from = 0) {
    this.expected = from;
  }
  async write(bytes: Uint8Array): Promise<void> {
    await this.gate;
    let rest = bytes;
    if (this.#pendingHeader === null) {
      const header = decodeHeader(rest);
      assertEquals(header.offset, this.expected, `${this.name}: frame offset`);
      this.#pendingHeader = { length: header.length, offset: header.offset };
      rest = rest.subarray(FRAME_HEADER_BYTES);
    }
    if (rest.length === 0) return; // a header written on its own
    assertEquals(rest.length, this.#pendingHeader.length);
    this.chunks.push(rest.slice());
    this.expected += rest.length;
    this.#pendingHeader = null;
    this.onFrame?.(this);
  }
  get bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) out.set(c, (at += c.length) - c.length);
    return out;
  }
}

/** Publishes `stream` in slots of `size` bytes. */
async function produceBytes(fanOut: FanOut, stream: Uint8Array, size: number): Promise<void> {
  for (let at = 0; at < stream.length; at += size) {
    const slot = await fanOut.acquire();
    const chunk = stream.subarray(at, Math.min(at + size, stream.length));
    slot.payloadArea.set(chunk);
    slot.length = chunk.length;
    fanOut.publish(slot);
  }
}

const STREAM = Uint8Array.from({ length: 4000 }, (_, i) => (i * 31 + 7) & 0xff);

Deno.test("fan-out: a late output starts at a retained offset inside a slot and gets exactly the rest", async () => {
  const first = new StreamOutput("first");
  const fanOut = new FanOut([first], { slots: 2, slotBytes: 100, ringBytes: 10_000 });
  await produceBytes(fanOut, STREAM.subarray(0, 2000), 100);
  assertEquals(fanOut.oldestOffset, 0);
  const late = new StreamOutput("late", 1234);
  const lateDone = fanOut.addFrom(late, 1234);
  await produceBytes(fanOut, STREAM.subarray(2000), 100);
  await fanOut.finish();
  await lateDone;
  assertEquals(first.bytes, STREAM);
  assertEquals(late.bytes, STREAM.subarray(1234));
  fanOut.close();
});

Deno.test("fan-out: an offset the ring no longer holds is refused with GAP, naming what it holds", async () => {
  const fanOut = new FanOut([new StreamOutput("a")], { slots: 2, slotBytes: 100, ringBytes: 1000 });
  await produceBytes(fanOut, STREAM, 100);
  const oldest = fanOut.oldestOffset;
  assert(oldest > 0 && oldest < STREAM.length);
  const gap = (words: RegExp) => (e: unknown) =>
    e instanceof NotRetainedError && e.code === "GAP" && words.test(e.message);
  assertThrows(() => fanOut.addFrom(new StreamOutput("b"), oldest - 1), gap(/no longer retained/));
  assertThrows(() => fanOut.addFrom(new StreamOutput("c"), STREAM.length + 1), gap(/ahead/));
  await fanOut.finish();
  fanOut.close();
});

Deno.test("fan-out: a catching-up output makes the producer wait only when the ring wraps onto it", async () => {
  const live = new StreamOutput("live");
  const fanOut = new FanOut([live], { slots: 2, slotBytes: 100, ringBytes: 1160 });
  await produceBytes(fanOut, STREAM.subarray(0, 500), 100);
  const slow = new StreamOutput("slow", 0);
  let open!: () => void;
  slow.gate = new Promise((r) => open = r);
  const slowDone = fanOut.addFrom(slow, 0);
  let published = 500;
  const producing = (async () => {
    for (let at = 500; at < STREAM.length; at += 100) {
      await produceBytes(fanOut, STREAM.subarray(at, at + 100), 100);
      published = at + 100;
    }
  })();
  await new Promise((r) => setTimeout(r, 30));
  // the window does not hold it (slow is catching up), the retention of slow's first slot does
  assertEquals(published, 1000);
  open();
  await producing;
  await fanOut.finish();
  await slowDone;
  assertEquals(slow.bytes, STREAM);
  assertEquals(live.bytes, STREAM);
  fanOut.close();
});

Deno.test("fan-out: a failed child link holds its bytes until released, then the stream goes on", async () => {
  const child = new StreamOutput("child");
  let failNow = false;
  const failing: FanOutput = {
    name: "child",
    view: "frame",
    write: (bytes) => failNow ? Promise.reject(new Error("reset")) : child.write(bytes),
  };
  const errors: string[] = [];
  const fanOut = new FanOut([failing], {
    slots: 2,
    slotBytes: 100,
    ringBytes: 1160,
    holdMs: 60_000,
    onOutputError: (o, e) => errors.push(`${o.name}: ${(e as Error).message}`),
  });
  await produceBytes(fanOut, STREAM.subarray(0, 300), 100);
  failNow = true;
  let published = 300;
  const producing = (async () => {
    for (let at = 300; at < STREAM.length; at += 100) {
      await produceBytes(fanOut, STREAM.subarray(at, at + 100), 100);
      published = at + 100;
    }
  })();
  await new Promise((r) => setTimeout(r, 30));
  assertEquals(errors, ["child: reset"]);
  assert(!fanOut.allFailed, "a held output is not given up");
  assert(published < STREAM.length, "the producer waits for the held bytes");
  // the repair: the same child again from what it holds
  const repaired = new StreamOutput("child", child.expected);
  const repairedDone = fanOut.addFrom(repaired, child.expected);
  await producing;
  await fanOut.finish();
  await repairedDone;
  const whole = new Uint8Array([...child.bytes, ...repaired.bytes]);
  assertEquals(whole, STREAM);
  fanOut.close();
});

Deno.test("fan-out: bytes older than the ring come from the history, then the output joins the ring", async () => {
  const fanOut = new FanOut([new StreamOutput("a")], { slots: 2, slotBytes: 100, ringBytes: 1000 });
  await produceBytes(fanOut, STREAM.subarray(0, 3000), 100);
  let closed = false;
  const history: ByteHistory = {
    readAt: (offset, into) => {
      const n = Math.min(into.length, 37, STREAM.length - offset);
      into.set(STREAM.subarray(offset, offset + n));
      return Promise.resolve(n);
    },
    close: () => closed = true,
  };
  const late = new StreamOutput("late", 10);
  const done = fanOut.addFrom(late, 10, history);
  await produceBytes(fanOut, STREAM.subarray(3000), 100);
  await fanOut.finish();
  await done;
  assertEquals(late.bytes, STREAM.subarray(10));
  assert(closed);
  fanOut.close();
});

Deno.test("fan-out: a child's last ACK keeps its subtree's bytes; at the budget the producer waits instead of discarding", async () => {
  // a child that took everything (its kernel buffers) but acknowledged only the first 300 bytes
  const child = new StreamOutput("child");
  const fanOut = new FanOut([child], { slots: 2, slotBytes: 100, ringBytes: 1160, retain: true });
  await produceBytes(fanOut, STREAM.subarray(0, 900), 100);
  fanOut.acknowledge(child, 300);
  let produced = 900;
  const producing = (async () => {
    for (let at = 900; at < 2000; at += 100) {
      await produceBytes(fanOut, STREAM.subarray(at, at + 100), 100);
      produced = at + 100;
    }
  })();
  await new Promise((r) => setTimeout(r, 50));
  assert(produced < 2000, "the producer waits at the budget");
  assertEquals(fanOut.oldestOffset <= 300, true, `still holds byte 300 (oldest ${fanOut.oldestOffset})`);
  // the child is dropped (hung): its children resume from 300 — the bytes are still there
  fanOut.failOutput("child", new Error("hung"));
  const grandchild = new StreamOutput("grandchild", 300);
  grandchild.onFrame = (output) => fanOut.acknowledge(output, output.expected); // it and its children hold that
  const adopted = fanOut.addFrom(grandchild, 300);
  fanOut.release("child");
  await producing;
  await fanOut.finish();
  assertEquals(await adopted, true);
  assertEquals(grandchild.bytes, STREAM.subarray(300, 2000));
  fanOut.close();
});

Deno.test("fan-out: without retention (--ring 0) the same stream would have lost the bytes a repair needs", async () => {
  const child = new StreamOutput("child");
  const fanOut = new FanOut([child], { slots: 2, slotBytes: 100, ringBytes: 1160 });
  await produceBytes(fanOut, STREAM.subarray(0, 2000), 100);
  fanOut.acknowledge(child, 300);
  assertThrows(() => fanOut.addFrom(new StreamOutput("grandchild", 300), 300), NotRetainedError);
  await fanOut.finish();
  fanOut.close();
});

Deno.test("fan-out, sealed: frames through a wrapping ring arrive whole, each at its offset with a seal a relay accepts", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const { options, seal } = relayFanOut({ slots: 4, slotBytes: 64 * 1024, ringBytes: 1 << 20 }, 0, {
    key,
    source: true,
  });
  const { seal: check } = relayFanOut({ slots: 4, slotBytes: 64 * 1024, ringBytes: 1 << 20 }, 0, {
    key,
    source: false,
  });
  assert(seal !== null && check !== null);
  let offset = 0;
  let frames = 0;
  const problems: string[] = [];
  const output: FanOutput = {
    name: "child",
    view: "frame",
    write(frame) {
      const header = decodeHeader(frame.subarray(0, FRAME_HEADER_BYTES));
      if (frame.length !== FRAME_HEADER_BYTES + header.length + SEAL_TRAILER_BYTES) {
        problems.push(`length at ${offset}`);
      }
      if (header.offset !== offset) problems.push(`offset ${header.offset}, expected ${offset}`);
      if (!check.check(frame)) problems.push(`seal at ${offset}`);
      offset += header.length;
      frames++;
      return Promise.resolve();
    },
  };
  // no ACKs here: nothing is retained for repairs
  const fanOut = new FanOut([output], {
    ...options,
    retain: false,
    onOutputError: (_, e) => problems.push(String(e)),
  });
  for (let i = 0; i < 200; i++) {
    const slot = await fanOut.acquire();
    slot.payloadArea.fill(i & 0xff, 0, slot.capacity - (i % 3));
    slot.length = slot.capacity - (i % 3);
    fanOut.publish(slot);
  }
  await fanOut.finish();
  fanOut.close();
  assertEquals(problems.slice(0, 3), []);
  assertEquals(frames, 200);
});

Deno.test("fan-out: a slow output fed from the history (preferHistory) never holds the producer", async () => {
  const fast = new StreamOutput("fast");
  const fanOut = new FanOut([fast], { slots: 2, slotBytes: 100, ringBytes: 1160 });
  await produceBytes(fanOut, STREAM.subarray(0, 500), 100);
  fanOut.takeBlocked();
  const history: ByteHistory = {
    readAt: (offset, into) => {
      const n = Math.min(into.length, STREAM.length - offset);
      into.set(STREAM.subarray(offset, offset + n));
      return Promise.resolve(n);
    },
    close: () => {},
  };
  const slow = new StreamOutput("slow", 0);
  let open!: () => void;
  slow.gate = new Promise((r) => open = r);
  // the ring still holds byte 0: without preferHistory this output would hold the producer
  const slowDone = fanOut.addFrom(slow, 0, history, true);
  // the whole stream is published while the slow output still waits
  await assertSettlesWithin(produceBytes(fanOut, STREAM.subarray(500), 100), 5000, "publishing");
  assert(fanOut.takeBlocked()?.by !== "slow", "the slow output never held the producer");
  open();
  await fanOut.finish();
  await slowDone;
  assertEquals(slow.bytes, STREAM);
  fanOut.close();
});

Deno.test("fan-out: takeBlocked names the output the producer waited for, with the share of the time", async () => {
  const stuck = new StreamOutput("stuck");
  let open!: () => void;
  stuck.gate = new Promise((r) => open = r);
  const fanOut = new FanOut([stuck], { slots: 2, slotBytes: 100, ringBytes: 1160 });
  fanOut.takeBlocked(); // counts from here
  const producing = produceBytes(fanOut, STREAM.subarray(0, 1000), 100);
  await new Promise((r) => setTimeout(r, 200));
  open();
  await producing;
  const blocked = fanOut.takeBlocked()!;
  assertEquals(blocked.by, "stuck");
  assert(blocked.share > 0.5 && blocked.share <= 1, String(blocked.share));
  assertEquals(fanOut.takeBlocked(), null, "the count starts again");
  await fanOut.finish();
  fanOut.close();
});
