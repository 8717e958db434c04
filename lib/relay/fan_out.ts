/**
 * Fan-out of one stream to several outputs through a ring of reused buffers.
 *
 * The producer fills slot after slot; every output writes the published slots in order, each at
 * its own pace; a slot is handed back to the producer only when every output has written it. A
 * slow output therefore slows the producer once the ring is full: memory is bounded by
 * `slots × slotBytes` whatever the stream size. Never `ReadableStream.tee()`.
 *
 * An output whose write throws is marked failed and skipped from then on; the others go on
 * (nettee's "continue on write failure").
 *
 * @module
 */

import { TimeoutError } from "../errors.ts";
import { withDeadline } from "../time/deadline.ts";
import { FRAME_HEADER_BYTES } from "../protocol/frame.ts";

/** Which bytes of a slot an output receives. */
export type OutputView = "frame" | "payload";

/** A destination of the stream: a child connection, a local sink. */
export interface FanOutput {
  /** Name for reports ("sink", a child's name). */
  readonly name: string;
  /** "frame": header and payload (network children); "payload": payload only (local sinks). */
  readonly view: OutputView;
  /** Writes all of `bytes`; the bytes may be reused as soon as the promise settles. */
  write(bytes: Uint8Array): Promise<void>;
  /** Unblocks a stalled write (closes the connection, kills the process); the write must then settle. */
  abort?(): void;
}

/** One reusable buffer of the ring: a frame header followed by up to `capacity` payload bytes. */
export class Slot {
  /** Header and payload storage. */
  readonly bytes: Uint8Array;
  /** A view for writing the header. */
  readonly header: DataView;
  /** The whole payload area, to read into. */
  readonly payloadArea: Uint8Array;
  /** Payload bytes currently held. */
  length = 0;
  /** Outputs still to write this slot. */
  pending = 0;

  /** Allocates a slot for `capacity` payload bytes. */
  constructor(capacity: number) {
    this.bytes = new Uint8Array(FRAME_HEADER_BYTES + capacity);
    this.header = new DataView(this.bytes.buffer, 0, FRAME_HEADER_BYTES);
    this.payloadArea = this.bytes.subarray(FRAME_HEADER_BYTES);
  }

  /** Room for payload bytes. */
  get capacity(): number {
    return this.bytes.length - FRAME_HEADER_BYTES;
  }
}

/** Options of a {@link FanOut}. */
export interface FanOutOptions {
  /** Number of slots in the ring (2–4 measured best). */
  slots: number;
  /** Payload bytes per slot (256 KiB measured best). */
  slotBytes: number;
  /** Called once when an output's write fails; the output is skipped from then on. */
  onOutputError?: (output: FanOutput, error: unknown) => void;
  /**
   * A write pending longer than this fails the output with a {@link TimeoutError} and aborts it,
   * so a hung child (SIGSTOP, a dead link without RST) cannot hold the whole chain. 0 disables.
   */
  stallTimeoutMs?: number;
}

/**
 * Multiplier of the peer timeout used as the write-stall timeout. A hung child is normally dropped on
 * the server's word (it stops heartbeating, the server sends DROP after the timeout); the stall
 * timeout is a slower safety net, so a node merely back-pressured by a hung node further down is never
 * mistaken for the hung one.
 */
export const STALL_SAFETY_FACTOR = 2;

/** Default ring geometry: 4 × 256 KiB. */
export const DEFAULT_SLOTS = 4;
/** Default payload bytes per slot. */
export const DEFAULT_SLOT_BYTES = 256 * 1024;

class OutputState {
  next = 0;
  failed = false;
  writingSince = 0;
  wake: (() => void) | null = null;
  done: Promise<void> = Promise.resolve();
  constructor(readonly output: FanOutput) {}
}

/** A bounded, ordered fan-out of slots to outputs. */
export class FanOut {
  readonly #slots: Slot[];
  readonly #outputs: OutputState[] = [];
  readonly #onOutputError?: (output: FanOutput, error: unknown) => void;
  #produced = 0;
  #finished = false;
  #producerWake: (() => void) | null = null;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  readonly #stallTimeoutMs: number;

  /** Creates the ring and starts one writer loop per output. */
  constructor(outputs: FanOutput[], options: FanOutOptions) {
    if (options.slots < 1) throw new RangeError("A fan-out needs at least one slot");
    this.#slots = Array.from({ length: options.slots }, () => new Slot(options.slotBytes));
    this.#onOutputError = options.onOutputError;
    this.#stallTimeoutMs = options.stallTimeoutMs ?? 0;
    for (const output of outputs) this.add(output);
    if (this.#stallTimeoutMs > 0) {
      this.#watchdog = setInterval(
        () => this.#checkStalls(),
        Math.max(50, Math.min(1000, this.#stallTimeoutMs / 4)),
      );
      Deno.unrefTimer(this.#watchdog);
    }
  }

  #checkStalls(): void {
    const now = performance.now();
    for (const state of this.#outputs) {
      if (state.failed || state.writingSince === 0 || now - state.writingSince < this.#stallTimeoutMs) {
        continue;
      }
      this.#fail(
        state,
        new TimeoutError(`Writing to ${state.output.name} stalled for ${this.#stallTimeoutMs / 1000} s`),
      );
      state.output.abort?.();
    }
  }

  /** Fails the output named `name` now (the server said it is gone) and unblocks its pending write. */
  failOutput(name: string, error: unknown): boolean {
    const state = this.#outputs.find((s) => s.output.name === name && !s.failed);
    if (!state) return false;
    this.#fail(state, error);
    state.output.abort?.();
    return true;
  }

  #fail(state: OutputState, error: unknown): void {
    if (state.failed) return;
    state.failed = true;
    this.#onOutputError?.(state.output, error);
  }

  /** Adds an output; it receives slots published from now on. */
  add(output: FanOutput): void {
    const state = new OutputState(output);
    state.next = this.#produced;
    this.#outputs.push(state);
    state.done = this.#run(state);
  }

  /** Names of outputs whose writes failed. */
  get failedOutputs(): string[] {
    return this.#outputs.filter((s) => s.failed).map((s) => s.output.name);
  }

  /** True when there were outputs and every one of them failed: nothing more can be delivered. */
  get allFailed(): boolean {
    return this.#outputs.length > 0 && this.#outputs.every((s) => s.failed);
  }

  /** Number of outputs still writing. */
  get liveOutputs(): number {
    return this.#outputs.filter((s) => !s.failed).length;
  }

  /** Waits until the next slot in the ring is free and returns it for filling. */
  async acquire(): Promise<Slot> {
    const slot = this.#slots[this.#produced % this.#slots.length];
    while (slot.pending > 0) {
      await new Promise<void>((resolve) => this.#producerWake = resolve);
    }
    slot.length = 0;
    return slot;
  }

  /** Hands the slot last returned by {@link acquire} to every output. */
  publish(slot: Slot): void {
    slot.pending = this.#outputs.length;
    this.#produced++;
    for (const state of this.#outputs) this.#wakeOutput(state);
  }

  /**
   * Waits until every output has written every published slot, then stops the writer loops. With a
   * deadline, outputs still behind when it passes are failed with a {@link TimeoutError} and aborted,
   * so the wait always ends.
   */
  async finish(deadlineMs = 0): Promise<void> {
    this.#finished = true;
    for (const state of this.#outputs) this.#wakeOutput(state);
    const drained = Promise.all(this.#outputs.map((s) => s.done));
    if (deadlineMs > 0) await withDeadline(drained, deadlineMs, () => this.#abortStragglers(deadlineMs));
    await drained;
    clearInterval(this.#watchdog);
  }

  #abortStragglers(deadlineMs: number): void {
    for (const state of this.#outputs) {
      if (state.failed || state.next === this.#produced) continue;
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

  async #run(state: OutputState): Promise<void> {
    const ring = this.#slots.length;
    for (;;) {
      while (state.next === this.#produced) {
        if (this.#finished) return;
        await new Promise<void>((resolve) => state.wake = resolve);
      }
      const slot = this.#slots[state.next % ring];
      if (!state.failed) {
        const end = FRAME_HEADER_BYTES + slot.length;
        const bytes = state.output.view === "frame"
          ? slot.bytes.subarray(0, end)
          : slot.bytes.subarray(FRAME_HEADER_BYTES, end);
        state.writingSince = performance.now();
        try {
          await state.output.write(bytes);
        } catch (error) {
          this.#fail(state, error);
        } finally {
          state.writingSince = 0;
        }
      }
      state.next++;
      if (--slot.pending === 0) {
        const wake = this.#producerWake;
        this.#producerWake = null;
        wake?.();
      }
    }
  }
}
