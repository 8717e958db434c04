/**
 * Fan-out of one stream to several outputs through a bounded ring that also retains the stream's
 * recent past for repairs.
 *
 * The producer fills slot after slot of one arena (`ringBytes`, the memory budget); each slot is a
 * DATA frame (header then payload) at a known stream offset. Every output writes the published
 * slots in order, at its own pace, with its own cursor. Three rules bound the producer:
 * - the window: it runs at most `slots` slots ahead of the slowest live output (tight
 *   backpressure, a hop adds little latency);
 * - cursors: it never overwrites a slot an output still has to write;
 * - retention: it never overwrites bytes a child's subtree may still need — each child link says
 *   (ACK, {@link FanOut.acknowledge}) the least that it and the nodes it feeds hold — so when the
 *   child fails, the nodes it fed resume from what they hold. A hung child's kernel buffers swallow
 *   megabytes it never passes on; its last word still says what is needed. When keeping that would
 *   take more than the arena, the producer waits (the stream pauses until the hung child is
 *   dropped) instead of discarding.
 * Slots no rule holds stay in the arena until the producer needs the room, so an output added
 * later — a child adopted after its upstream died — can start at any offset still retained
 * ({@link FanOut.addFrom}), replay from there and join the live stream. Memory is `ringBytes`
 * whatever the stream size. Never `ReadableStream.tee()`.
 *
 * An output whose write throws is marked failed and skipped from then on; the others go on
 * (nettee's "continue on write failure"). A failed child link can be held: its cursor keeps its
 * bytes retained until the server decides how to repair around it ({@link FanOutOptions.holdMs}).
 *
 * @module
 */

import { KadError, TimeoutError } from "../errors.ts";
import { withDeadline } from "../time/deadline.ts";
import { FLAG_MAC, FRAME_HEADER_BYTES, FrameType, writeHeader } from "../protocol/frame.ts";
import { SEAL_TRAILER_BYTES, StreamSeal } from "../security/stream_seal.ts";
import type { Blocked } from "../protocol/messages.ts";

/** Which bytes of a slot an output receives. */
export type OutputView = "frame" | "payload";

/** A destination of the stream: a child connection, a local sink. */
export interface FanOutput {
  /** Name for reports ("sink", a child's name). */
  readonly name: string;
  /** "frame": one whole frame per write, header and payload (network children); "payload": payload only (local sinks). */
  readonly view: OutputView;
  /** Writes all of `bytes`; the bytes may be reused as soon as the promise settles. */
  write(bytes: Uint8Array): Promise<void>;
  /** Unblocks a stalled write (closes the connection, kills the process); the write must then settle. */
  abort?(): void;
}

/** Stream bytes older than the ring, readable again (a seekable source: an image file, a device). */
export interface ByteHistory {
  /** Reads stream bytes from `offset` into `into`; null at the end of the stream. */
  readAt(offset: number, into: Uint8Array): Promise<number | null>;
  /** Releases the history's resources. */
  close(): void;
}

/** One frame of the ring: where it sits in the arena and in the stream. */
export class Slot {
  /** Sequence number of the slot in the stream (0, 1, 2…); -1 while never published. */
  seq: number = -1;
  /** Stream offset of the first payload byte. */
  offset: number = 0;
  /** Arena index of the frame header. */
  start: number = 0;
  /** Payload bytes held; the producer sets it before {@link FanOut.publish}. */
  length: number = 0;
  /** The payload area to fill (valid between acquire and publish). */
  payloadArea: Uint8Array = new Uint8Array(0);

  /** Room for payload bytes. */
  get capacity(): number {
    return this.payloadArea.length;
  }
}

/** Options of a {@link FanOut}. */
export interface FanOutOptions {
  /** Window: slots the producer may run ahead of the slowest live output. */
  slots: number;
  /** Stream offset of the first byte published (a node resuming its copy starts past 0). */
  startOffset?: number;
  /** Largest payload per slot: the unit a sealed stream is checked and forwarded in. */
  slotBytes: number;
  /** Arena size: the stream's recent past retained for repairs; at least `slots` full slots. */
  ringBytes?: number;
  /** Called once when an output's write fails; the output is skipped from then on. */
  onOutputError?: (output: FanOutput, error: unknown) => void;
  /**
   * A write pending longer than this fails the output with a {@link TimeoutError} and aborts it,
   * so a hung child (SIGSTOP, a dead link without RST) cannot hold the whole chain. 0 disables.
   */
  writeTimeoutMs?: number;
  /**
   * How long a failed "frame" output (a child link) keeps its bytes retained, waiting for the
   * server's repair: {@link FanOut.release} or a new output of the same name ends it sooner. 0: no holds.
   */
  holdMs?: number;
  /** Flags of every DATA frame's header ({@link FLAG_MAC} when the links are authenticated). */
  frameFlags?: number;
  /**
   * Bytes after each frame's payload (a sealed stream's trailer: security/stream_seal.ts), written
   * to "frame" outputs with the frame. 0: none.
   */
  trailerBytes?: number;
  /**
   * Seals a frame (header, payload, trailer room) of a sealed stream: given on the stream's source
   * only, which seals every slot it publishes (`first`) and every frame it reads again from its
   * history for a repair. A relay forwards the frames it got as they are.
   */
  seal?: (frame: Uint8Array, first: boolean) => void;
  /** The arena to use (at least {@link fanOutArenaBytes} long), e.g. a MAC's memory; else allocated. */
  arena?: Uint8Array;
  /**
   * Keep what children acknowledge they may need ({@link FanOut.acknowledge}), pausing the producer
   * rather than discarding it. Off, the arena only keeps what no output passed yet (`--ring 0`).
   */
  retain?: boolean;
}

/**
 * Multiplier of the peer timeout used as the write timeout (a write to one output that makes no
 * progress). Not the server's stall timeout (a node silent on its control connection): a hung child
 * is normally dropped on the server's word; the write timeout is a slower safety net, so a node
 * merely back-pressured by a hung node further down is never mistaken for the hung one.
 */
export const WRITE_TIMEOUT_FACTOR = 2;

/** Default window: 8 slots (1 MiB ahead of the slowest output, as 4 × 256 KiB measured best). */
export const DEFAULT_SLOTS = 8;
/**
 * Default payload bytes per slot, so per sealed frame: a node forwards a frame once it is whole
 * and checked, so each hop adds the time one frame takes on the wire (5.2 ms at 200 Mbit/s; 256 KiB
 * frames added 10.5 ms). Smaller frames cost CPU where nodes share cores: 16 nodes on 2 cores, 300 MB,
 * took 12.5–14.0 CPU-s with 256 KiB frames, 14.7 with 128 KiB, 15.7–16.4 with 64 KiB (and 64 nodes
 * on 2 cores then starved some past the stall timeout).
 */
export const DEFAULT_SLOT_BYTES = 128 * 1024;
/** Default bytes retained for repairs. */
export const DEFAULT_RING_BYTES = 32 * 1024 * 1024;

/** The ring's size, as a node or the server is configured; unset fields take the defaults. */
export interface RingGeometry {
  /** Window slots (default {@link DEFAULT_SLOTS}). */
  slots?: number;
  /** Payload bytes per slot (default {@link DEFAULT_SLOT_BYTES}). */
  slotBytes?: number;
  /** Bytes retained for repairs (default {@link DEFAULT_RING_BYTES}). */
  ringBytes?: number;
}

/** How a relay's DATA frames are sealed (security/stream_seal.ts). */
export interface StreamSealing {
  /** The deployment's stream key. */
  key: Uint8Array;
  /** True on the stream's source (the server), which seals; relays only check and forward. */
  source: boolean;
}

/**
 * The fan-out of a relay (a node or the server) whose peers answer within `peerTimeoutMs`: a write
 * stalled {@link WRITE_TIMEOUT_FACTOR} times that long fails its output, and a failed child's bytes
 * are held that long for the server's repair. On a sealed stream (authenticated links) the frames
 * carry a MAC flag and a trailer, and the arena lives in the seal's memory, where frames are
 * sealed (source) or checked (relays) in place.
 */
export function relayFanOut(
  geometry: RingGeometry,
  peerTimeoutMs: number,
  sealing: StreamSealing | null,
): { options: FanOutOptions; seal: StreamSeal | null } {
  const slots = geometry.slots ?? DEFAULT_SLOTS;
  const slotBytes = geometry.slotBytes ?? DEFAULT_SLOT_BYTES;
  const ringBytes = geometry.ringBytes ?? DEFAULT_RING_BYTES;
  const options: FanOutOptions = {
    frameFlags: sealing ? FLAG_MAC : 0,
    trailerBytes: sealing ? SEAL_TRAILER_BYTES : 0,
    slots,
    slotBytes,
    ringBytes,
    writeTimeoutMs: peerTimeoutMs * WRITE_TIMEOUT_FACTOR,
    holdMs: peerTimeoutMs,
    // a ring that holds no more than the window has no room to keep anything for repairs
    retain: ringBytes > 2 * slots * (FRAME_HEADER_BYTES + slotBytes),
  };
  if (sealing === null) return { options, seal: null };
  const seal = new StreamSeal(sealing.key, fanOutArenaBytes(options), slotBytes);
  options.arena = seal.arena;
  if (sealing.source) options.seal = (frame, first) => seal.seal(frame, first);
  return { options, seal };
}

/** The bytes of the arena a fan-out with `options` uses. */
export function fanOutArenaBytes(options: FanOutOptions): number {
  const frameBytes = FRAME_HEADER_BYTES + options.slotBytes + (options.trailerBytes ?? 0);
  return Math.max(options.ringBytes ?? 0, options.slots * frameBytes);
}

/** The offset a child asked for is no longer retained here. */
export class NotRetainedError extends KadError {
  /** Creates the error for `offset`, given the oldest offset still held and the ring's size. */
  constructor(readonly offset: number, readonly oldest: number, readonly newest: number, ringBytes = 0) {
    super(
      "GAP",
      offset > newest
        ? `Offset ${offset} is ahead of this stream (at ${newest})`
        : `Bytes from offset ${offset} are no longer retained (ring holds ${oldest}–${newest}): ` +
          `the ring${
            ringBytes ? ` of ${Math.round(ringBytes / 2 ** 20)} MiB` : ""
          } cannot cover this repair, ` +
          `raise --ring on the nodes and the server`,
    );
  }
}

class OutputState {
  /** Sequence of the next slot to write. */
  next = 0;
  /** "frame" outputs: the least stream offset the child's subtree may still need (its last ACK). */
  need = 0;
  /** Payload bytes of slot `next` this output must skip (it starts inside that slot). */
  skip = 0;
  failed = false;
  /** Failed, but its cursor still retains bytes until the server decides. */
  held = false;
  heldUntil = 0;
  /** Replaying behind the window: exempt from the window rule until it is within it. */
  catchingUp = false;
  /** Reading bytes older than the ring from here, not yet in the ring. */
  history: { source: ByteHistory; offset: number } | null = null;
  /**
   * Read from the history even where the ring still holds the bytes, until within a window of the
   * newest: a slow node moved off the chain must not hold the ring (and the whole chain) back.
   */
  preferHistory = false;
  /** Private header (and history buffer) for frames not written from the ring as they are. */
  scratch: Uint8Array | null = null;
  writingSince = 0;
  wake: (() => void) | null = null;
  done: Promise<boolean> = Promise.resolve(true);
  constructor(readonly output: FanOutput) {}
}

/** A bounded, ordered fan-out of slots to outputs, retaining the recent stream for late outputs. */
export class FanOut {
  readonly #arena: Uint8Array;
  readonly #view: DataView;
  readonly #slots: Slot[];
  readonly #window: number;
  readonly #slotBytes: number;
  readonly #trailerBytes: number;
  readonly #seal: ((frame: Uint8Array, first: boolean) => void) | null;
  readonly #outputs: OutputState[] = [];
  /** Milliseconds the producer waited, by the output it waited for, since {@link takeBlocked}. */
  readonly #blockedMs = new Map<string, number>();
  /** When {@link takeBlocked} last counted. */
  #blockedSince = performance.now();
  readonly #onOutputError?: (output: FanOutput, error: unknown) => void;
  readonly #holdMs: number;
  readonly #writeTimeoutMs: number;
  readonly #frameFlags: number;
  readonly #retain: boolean;
  /** Slots published so far; the next slot's sequence. */
  #produced = 0;
  /** Stream bytes published so far. */
  #producedBytes = 0;
  /** Oldest slot still retained. */
  #oldest = 0;
  /** Arena index where the next slot starts. */
  #pos = 0;
  #finished = false;
  #closed = false;
  #producerWake: (() => void) | null = null;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  /** Creates the ring and starts one writer loop per output. */
  constructor(outputs: FanOutput[], options: FanOutOptions) {
    if (options.slots < 1) throw new RangeError("A fan-out needs at least one slot");
    const arenaBytes = fanOutArenaBytes(options);
    if (options.arena && options.arena.length < arenaBytes) {
      throw new RangeError(`A fan-out arena of ${options.arena.length} bytes is smaller than ${arenaBytes}`);
    }
    this.#arena = options.arena?.subarray(0, arenaBytes) ?? new Uint8Array(arenaBytes);
    this.#view = new DataView(this.#arena.buffer, this.#arena.byteOffset, this.#arena.byteLength);
    // enough descriptors for an arena of small slots; reusing one also retires its old slot
    const smallSlot = FRAME_HEADER_BYTES + Math.min(options.slotBytes, 4096);
    const descriptors = options.slots + 2 + Math.ceil(arenaBytes / smallSlot);
    this.#slots = Array.from({ length: descriptors }, () => new Slot());
    this.#window = options.slots;
    this.#slotBytes = options.slotBytes;
    this.#trailerBytes = options.trailerBytes ?? 0;
    this.#seal = options.seal ?? null;
    this.#onOutputError = options.onOutputError;
    this.#holdMs = options.holdMs ?? 0;
    this.#producedBytes = options.startOffset ?? 0;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 0;
    this.#frameFlags = options.frameFlags ?? 0;
    this.#retain = options.retain ?? false;
    for (const output of outputs) this.add(output);
    const tick = Math.min(this.#writeTimeoutMs || Infinity, this.#holdMs || Infinity);
    if (tick < Infinity) {
      this.#watchdog = setInterval(() => this.#checkTimers(), Math.max(50, Math.min(1000, tick / 4)));
      Deno.unrefTimer(this.#watchdog);
    }
  }

  /** Stream bytes published so far. */
  get producedBytes(): number {
    return this.#producedBytes;
  }

  /** Stream offset of the oldest byte still retained. */
  get oldestOffset(): number {
    return this.#oldest < this.#produced ? this.#slotOf(this.#oldest).offset : this.#producedBytes;
  }

  /** Names of outputs whose writes failed. */
  get failedOutputs(): string[] {
    return this.#outputs.filter((s) => s.failed).map((s) => s.output.name);
  }

  /** True when there were outputs and every one failed for good: nothing more can be delivered. */
  get allFailed(): boolean {
    return this.#outputs.length > 0 && this.#outputs.every((s) => s.failed && !s.held);
  }

  /** Number of outputs still writing. */
  get liveOutputs(): number {
    return this.#outputs.filter((s) => !s.failed).length;
  }

  /** Adds an output; it receives slots published from now on. */
  add(output: FanOutput): Promise<boolean> {
    return this.addFrom(output, this.#producedBytes);
  }

  /**
   * Adds an output that starts at stream `offset`: from the ring when it still holds that byte,
   * else from `history` until the ring is reached. With `preferHistory`, from `history` until within
   * a window of the newest byte, so that a slow output does not hold the ring back. Returns a promise
   * of true once the output has written everything published up to {@link finish}, or of false when
   * it failed.
   * @throws {NotRetainedError} when neither the ring nor a history has the byte.
   */
  addFrom(output: FanOutput, offset: number, history?: ByteHistory, preferHistory = false): Promise<boolean> {
    const state = new OutputState(output);
    state.need = offset;
    state.preferHistory = preferHistory && history !== undefined;
    if (!this.#historyFirst(state, offset) && this.#seek(state, offset)) {
      history?.close(); // the ring has it all
    } else {
      if (history === undefined || offset > this.#producedBytes) {
        history?.close();
        throw new NotRetainedError(offset, this.oldestOffset, this.#producedBytes, this.#arena.length);
      }
      state.history = { source: history, offset };
      state.scratch = this.#scratchFrame();
    }
    this.release(output.name);
    this.#outputs.push(state);
    state.done = this.#run(state);
    return state.done;
  }

  /** True while `state` should read from its history at `offset` although the ring may hold it. */
  #historyFirst(state: OutputState, offset: number): boolean {
    if (!state.preferHistory) return false;
    const behind = this.#producedBytes - offset;
    return behind > this.#window * this.#slotBytes;
  }

  /** Points `state` at the retained slot holding `offset`; false when it is not retained. */
  #seek(state: OutputState, offset: number): boolean {
    if (offset === this.#producedBytes) {
      state.next = this.#produced;
      return true;
    }
    if (offset > this.#producedBytes || offset < this.oldestOffset) return false;
    let low = this.#oldest;
    let high = this.#produced - 1;
    while (low < high) { // last slot starting at or before offset
      const middle = (low + high + 1) >>> 1;
      if (this.#slotOf(middle).offset <= offset) low = middle;
      else high = middle - 1;
    }
    const skip = offset - this.#slotOf(low).offset;
    // sealed frames are never cut: each node's chain of seals must be the source's (stream_seal.ts)
    if (skip > 0 && this.#trailerBytes > 0) return false;
    state.next = low;
    state.skip = skip;
    if (state.skip > 0) state.scratch ??= this.#scratchFrame();
    state.catchingUp = this.#produced - low > this.#window;
    return true;
  }

  /**
   * `output`'s child and the nodes it feeds may still need the bytes from `need` on (its ACK): the
   * ring keeps them (when it retains). Acknowledgements only move forward.
   */
  acknowledge(output: FanOutput, need: number): void {
    const state = this.#outputs.find((s) => s.output === output);
    if (state === undefined || need <= state.need) return;
    state.need = need;
    this.#wakeProducer();
  }

  /**
   * The output a retaining ring keeps bytes for longest: of the live and held child links, the one
   * whose subtree needs the least offset (its `need` is the ring's floor); null when none.
   */
  #floorHolder(): OutputState | null {
    let holder: OutputState | null = null;
    for (const state of this.#outputs) {
      if (state.output.view !== "frame" || (state.failed && !state.held) || state.history !== null) continue;
      if (holder === null || state.need < holder.need) holder = state;
    }
    return holder;
  }

  /** Fails the output named `name` now (the server said it is gone) and unblocks its pending write. */
  failOutput(name: string, error: unknown): boolean {
    const state = this.#outputs.find((s) => s.output.name === name && !s.failed);
    if (!state) return false;
    this.#fail(state, error);
    state.output.abort?.();
    return true;
  }

  /** Ends the hold on a failed output's bytes: the server has repaired around it or given it up. */
  release(name: string): void {
    for (const state of this.#outputs) {
      if (state.output.name === name && state.held) state.held = false;
    }
    this.#wakeProducer();
  }

  #fail(state: OutputState, error: unknown): void {
    if (state.failed) return;
    state.failed = true;
    if (this.#holdMs > 0 && state.output.view === "frame" && !this.#closed && state.history === null) {
      state.held = true;
      state.heldUntil = performance.now() + this.#holdMs;
    }
    this.#onOutputError?.(state.output, error);
    this.#wakeProducer();
  }

  #checkTimers(): void {
    const now = performance.now();
    for (const state of this.#outputs) {
      if (state.held && now >= state.heldUntil) {
        state.held = false;
        this.#wakeProducer();
      }
      if (
        state.failed || state.writingSince === 0 || this.#writeTimeoutMs === 0 ||
        now - state.writingSince < this.#writeTimeoutMs
      ) continue;
      this.#fail(
        state,
        new TimeoutError(`Writing to ${state.output.name} stalled for ${this.#writeTimeoutMs / 1000} s`),
      );
      state.output.abort?.();
    }
  }

  #slotOf(seq: number): Slot {
    return this.#slots[seq % this.#slots.length];
  }

  /** Waits until there is room for the next slot and returns it for filling. */
  async acquire(): Promise<Slot> {
    const need = FRAME_HEADER_BYTES + this.#slotBytes + this.#trailerBytes;
    const wrapped = this.#pos + need > this.#arena.length;
    const start = wrapped ? 0 : this.#pos;
    // the slots this one overwrites are the oldest: a prefix of the retained ones
    let evict = this.#oldest;
    const reusedDescriptor = this.#produced - this.#slots.length;
    while (evict < this.#produced) {
      const slot = this.#slotOf(evict);
      const end = slot.start + FRAME_HEADER_BYTES + slot.length + this.#trailerBytes;
      const overlaps = slot.start < start + need && end > start;
      if (!overlaps && !(wrapped && slot.start >= this.#pos) && evict > reusedDescriptor) break;
      evict++;
    }
    for (let by = this.#blocker(evict); by !== null; by = this.#blocker(evict)) {
      const since = performance.now();
      await new Promise<void>((resolve) => this.#producerWake = resolve);
      this.#blockedMs.set(by, (this.#blockedMs.get(by) ?? 0) + performance.now() - since);
    }
    this.#oldest = Math.max(this.#oldest, evict);
    const slot = this.#slotOf(this.#produced);
    slot.seq = -1;
    slot.start = start;
    slot.length = 0;
    slot.payloadArea = this.#arena.subarray(
      start + FRAME_HEADER_BYTES,
      start + FRAME_HEADER_BYTES + this.#slotBytes,
    );
    return slot;
  }

  /**
   * The output the producer must wait for, or null: one that still needs a slot below `evict`, a
   * live one a window behind, or (retaining) the one whose subtree still needs bytes of the slots
   * below `evict`.
   */
  #blocker(evict: number): string | null {
    if (this.#retain && evict > this.#oldest && !this.#closed) {
      const last = this.#slotOf(evict - 1);
      const holder = this.#floorHolder();
      if (holder !== null && last.offset + last.length > holder.need) return holder.output.name;
    }
    for (const state of this.#outputs) {
      if ((state.failed && !state.held) || state.history !== null) continue;
      if (state.next < evict) return state.output.name;
      if (!state.failed && !state.catchingUp && this.#produced - state.next >= this.#window) {
        return state.output.name;
      }
    }
    return null;
  }

  /**
   * The output that held the producer back longest since the last call, and the share of that
   * time it did: who this node (or the server) waits for (see server/slow_nodes.ts).
   */
  takeBlocked(): Blocked | null {
    const now = performance.now();
    const span = now - this.#blockedSince;
    this.#blockedSince = now;
    let most: { by: string; ms: number } | null = null;
    for (const [by, ms] of this.#blockedMs) if (most === null || ms > most.ms) most = { by, ms };
    this.#blockedMs.clear();
    return most && span > 0 ? { by: most.by, share: Math.min(1, most.ms / span) } : null;
  }

  /**
   * The arena bytes of `slot` as a frame of `length` payload bytes: header, payload and trailer
   * (a sealed stream's), for a relay to read a whole frame into.
   */
  slotFrame(slot: Slot, length: number): Uint8Array {
    return this.#arena.subarray(slot.start, slot.start + FRAME_HEADER_BYTES + length + this.#trailerBytes);
  }

  /** Publishes the slot last returned by {@link acquire} (its `length` set) to every output. */
  publish(slot: Slot): void {
    slot.seq = this.#produced;
    slot.offset = this.#producedBytes;
    writeHeader(this.#view, FrameType.DATA, slot.length, slot.offset, slot.start, this.#frameFlags);
    this.#pos = slot.start + FRAME_HEADER_BYTES + slot.length + this.#trailerBytes;
    this.#seal?.(this.#arena.subarray(slot.start, this.#pos), true);
    this.#produced++;
    this.#producedBytes += slot.length;
    for (const state of this.#outputs) this.#wakeOutput(state);
  }

  /**
   * Waits until every output has written every published slot, then lets the writer loops end.
   * With a deadline, outputs still behind when it passes are failed with a {@link TimeoutError} and
   * aborted, so the wait always ends. The ring stays readable for outputs added afterwards.
   */
  async finish(deadlineMs = 0): Promise<void> {
    this.#finished = true;
    for (const state of this.#outputs) this.#wakeOutput(state);
    const drained = Promise.all(this.#outputs.map((s) => s.done));
    if (deadlineMs > 0) await withDeadline(drained, deadlineMs, () => this.#abortStragglers(deadlineMs));
    await drained;
  }

  /** Stops the timers and every hold; the fan-out takes no more outputs. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#watchdog);
    for (const state of this.#outputs) state.held = false;
    this.#wakeProducer();
  }

  #abortStragglers(deadlineMs: number): void {
    for (const state of this.#outputs) {
      if (state.failed || (state.next === this.#produced && state.history === null)) continue;
      this.#fail(
        state,
        new TimeoutError(`Writing to ${state.output.name} did not finish within ${deadlineMs / 1000} s`),
      );
      state.output.abort?.();
    }
  }

  #wakeOutput(state: OutputState): void {
    const wake = state.wake;
    state.wake = null;
    wake?.();
  }

  #wakeProducer(): void {
    const wake = this.#producerWake;
    this.#producerWake = null;
    wake?.();
  }

  async #run(state: OutputState): Promise<boolean> {
    if (state.history !== null && !(await this.#replayHistory(state))) return false;
    for (;;) {
      while (state.next === this.#produced) {
        if (this.#finished || state.failed) return !state.failed;
        await new Promise<void>((resolve) => state.wake = resolve);
      }
      if (state.failed) return false;
      const slot = this.#slotOf(state.next);
      const payloadEnd = slot.start + FRAME_HEADER_BYTES + slot.length;
      const payloadStart = slot.start + FRAME_HEADER_BYTES + state.skip;
      state.writingSince = performance.now();
      try {
        if (state.output.view === "payload") {
          await state.output.write(this.#arena.subarray(payloadStart, payloadEnd));
        } else if (state.skip === 0) {
          await state.output.write(this.#arena.subarray(slot.start, payloadEnd + this.#trailerBytes));
        } else { // the first slot of a catch-up, entered mid-slot: a frame of its tail, copied once
          const payload = this.#arena.subarray(payloadStart, payloadEnd);
          await state.output.write(this.#frameOf(state.scratch!, payload, slot.offset + state.skip));
        }
      } catch (error) {
        this.#fail(state, error);
        return false;
      } finally {
        state.writingSince = 0;
      }
      state.next++;
      state.skip = 0;
      if (state.catchingUp && this.#produced - state.next <= this.#window) state.catchingUp = false;
      this.#wakeProducer();
    }
  }

  /**
   * A DATA frame at stream `offset` of `payload` (copied), built in `buffer`; sealed on a sealed
   * stream. `payload` may lie in `buffer`'s own payload area already.
   */
  #frameOf(buffer: Uint8Array, payload: Uint8Array, offset: number): Uint8Array {
    const frame = buffer.subarray(0, FRAME_HEADER_BYTES + payload.length + this.#trailerBytes);
    writeHeader(
      new DataView(buffer.buffer, buffer.byteOffset),
      FrameType.DATA,
      payload.length,
      offset,
      0,
      this.#frameFlags,
    );
    if (payload.buffer !== buffer.buffer || payload.byteOffset !== buffer.byteOffset + FRAME_HEADER_BYTES) {
      frame.set(payload, FRAME_HEADER_BYTES);
    }
    this.#seal?.(frame, false);
    return frame;
  }

  /** A buffer for frames built outside the arena: a catch-up's first frame, history replays. */
  #scratchFrame(): Uint8Array {
    return new Uint8Array(FRAME_HEADER_BYTES + this.#slotBytes + this.#trailerBytes);
  }

  /**
   * Writes history bytes until the ring holds the next one; false when the output failed. Frames
   * are whole slots, as the source cut them, so a sealed stream's frames start where they did.
   */
  async #replayHistory(state: OutputState): Promise<boolean> {
    const history = state.history!;
    const buffer = state.scratch!;
    const payload = buffer.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + this.#slotBytes);
    try {
      while (this.#historyFirst(state, history.offset) || !this.#seek(state, history.offset)) {
        state.writingSince = performance.now();
        let n = 0;
        while (n < payload.length) {
          const got = await history.source.readAt(history.offset + n, payload.subarray(n));
          if (got === null || got === 0) break;
          n += got;
        }
        if (n === 0) {
          throw new KadError("LRF", `The source ended at ${history.offset} while replaying a repair`);
        }
        await state.output.write(this.#frameOf(buffer, payload.subarray(0, n), history.offset));
        history.offset += n;
        if (state.failed) return false;
      }
    } catch (error) {
      this.#fail(state, error);
      return false;
    } finally {
      state.writingSince = 0;
      if (state.history !== null) history.source.close();
      state.history = null;
    }
    return true;
  }
}
