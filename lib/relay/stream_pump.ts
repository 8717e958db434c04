/**
 * The two producers of a fan-out: the server's source pump (raw bytes → DATA frames) and a node's
 * relay (DATA frames from the upstream → the same frames to children, payload to the sink). Both
 * read straight into the ring's slots and hash the payload once; the ring frames it at its offset.
 *
 * @module
 */

import { AbortReceivedError, AuthError, KadError, ProtocolError } from "../errors.ts";
import type { StreamHasher } from "../integrity/stream_hash.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FRAME_HEADER_BYTES, type FrameHeader, FrameType } from "../protocol/frame.ts";
import { StreamSeal } from "../security/stream_seal.ts";
import { type EndMessage, frameName } from "../protocol/messages.ts";
import type { Source } from "../source/source.ts";
import type { FanOut } from "./fan_out.ts";

/** A relay forwards a partial frame once this many bytes of it have arrived. */
export const FORWARD_AFTER_BYTES = 64 * 1024;

/** Bytes moved so far, readable while the pump runs. */
export interface ByteCounter {
  /** Bytes so far. */
  bytes: number;
}

/**
 * Streams `source` into `fanOut` as DATA frames; returns the total. Slots are filled before
 * publishing. An abort of `signal` ends a pending read at once (a stdin read cannot be cancelled).
 */
export async function pumpSource(
  source: Source,
  fanOut: FanOut,
  hasher: StreamHasher,
  counter: ByteCounter,
  signal?: AbortSignal,
): Promise<number> {
  let eof = false;
  while (!eof) {
    const slot = await fanOut.acquire();
    if (fanOut.allFailed) {
      throw new KadError("NWF", "Every node fed by the source is gone: nothing to stream to");
    }
    const area = slot.payloadArea;
    let filled = 0;
    while (filled < area.length) {
      const reading = source.read(filled === 0 ? area : area.subarray(filled));
      const n = signal ? await unlessAborted(reading, signal) : await reading;
      if (n === null) {
        eof = true;
        break;
      }
      filled += n;
    }
    if (filled === 0) break;
    slot.length = filled;
    hasher.update(filled === area.length ? area : area.subarray(0, filled));
    counter.bytes += filled;
    fanOut.publish(slot);
  }
  return counter.bytes;
}

/**
 * `promise`, or a rejection (ABORT) as soon as `signal` aborts. The listener lives as long as this
 * one read: racing every read against one long-lived promise would leave a reaction behind per
 * read, which is how the server once grew by 160 MiB over a 24 GB stream.
 */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  const aborted = () => new KadError("ABORT", "Deployment interrupted by the operator");
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * Reads DATA frames from the upstream into the ring until END, which it returns; every frame's
 * offset must continue the stream exactly. `integrity` is what vouches for the bytes: a hash of
 * every byte (an unsealed stream: a frame larger than a slot is split, and forwarded once a useful
 * part of it is here), or the stream's seal (authenticated links: a frame is published only once
 * whole with its seal checked, so no unauthenticated byte reaches the sink or a child, and it is
 * forwarded as it came). `onFrame` runs after every frame: a node heartbeats from there, so a
 * process starved of CPU, whose timers fire late, still says it is alive whenever it moves data.
 */
export async function relayFrames(
  upstream: FrameConn,
  fanOut: FanOut,
  integrity: StreamHasher | StreamSeal,
  counter: ByteCounter,
  onFrame?: () => void,
): Promise<EndMessage> {
  for (;;) {
    onFrame?.();
    const header = await upstream.readHeader();
    if (header === null) {
      throw new KadError("NRF", `Upstream ${upstream.peer} closed the stream after ${counter.bytes} bytes`);
    }
    if (header.type === FrameType.DATA) {
      if (header.offset !== counter.bytes) {
        throw new ProtocolError(
          `Upstream ${upstream.peer} sent offset ${header.offset}, expected ${counter.bytes}`,
        );
      }
      if (integrity instanceof StreamSeal) {
        await relaySealed(upstream, header, fanOut, integrity, counter);
        continue;
      }
      const hasher = integrity;
      let remaining = header.length;
      while (remaining > 0) {
        const slot = await fanOut.acquire();
        const room = Math.min(remaining, slot.capacity);
        // forward what has arrived once a useful amount is here: a hop adds ~64 KiB of latency, not a frame
        const n = await upstream.readAtLeast(
          slot.payloadArea.subarray(0, room),
          Math.min(room, FORWARD_AFTER_BYTES),
        );
        const payload = slot.payloadArea.subarray(0, n);
        slot.length = n;
        hasher.update(payload);
        counter.bytes += n;
        remaining -= n;
        fanOut.publish(slot);
      }
      continue;
    }
    const message = await upstream.readMessageBody(header);
    switch (message.type) {
      case FrameType.END:
        return message.body;
      case FrameType.ABORT:
      case FrameType.ERROR:
        throw new AbortReceivedError(message.body.code, message.body.message, { node: message.body.node });
      default:
        throw new ProtocolError(`Unexpected ${frameName(message.type)} from upstream ${upstream.peer}`);
    }
  }
}

/** One sealed DATA frame: read whole into a slot with its trailer, its seal checked, then published. */
async function relaySealed(
  upstream: FrameConn,
  header: FrameHeader,
  fanOut: FanOut,
  seal: StreamSeal,
  counter: ByteCounter,
): Promise<void> {
  const length = header.length;
  const slot = await fanOut.acquire();
  if (length > slot.capacity) {
    throw new ProtocolError(
      `Upstream ${upstream.peer} sent a frame of ${length} bytes, larger than this node's slots (${slot.capacity})`,
    );
  }
  const frame = fanOut.slotFrame(slot, length);
  frame.set(upstream.lastHeader);
  const body = frame.subarray(FRAME_HEADER_BYTES);
  await upstream.readAtLeast(body, body.length);
  if (!seal.check(frame)) {
    throw new AuthError(
      `Frame from ${upstream.peer} at offset ${header.offset} failed authentication: altered, injected or replayed`,
      { node: upstream.peer },
    );
  }
  if (length === 0) return;
  slot.length = length;
  counter.bytes += length;
  fanOut.publish(slot);
}
