/**
 * A restarted node takes up the copy it was cut off from (`--out FILE`, see sink/resume_record.ts):
 * before the stream resumes, it reads back what it kept and runs it through the stream's integrity
 * check — the seals' chain, or the hash of every byte — as if it had just received it, so that the
 * check at the end still covers the whole stream. Bytes that changed meanwhile (a reboot that lost
 * writes never flushed) make it differ from the server's, and the node fail, never pass.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import type { StreamHasher } from "../integrity/stream_hash.ts";
import { FLAG_MAC, FRAME_HEADER_BYTES, FrameType, writeHeader } from "../protocol/frame.ts";
import { StreamSeal } from "../security/stream_seal.ts";

/** Reads the first `bytes` of the kept copy at `path`, frame by frame, into `integrity`. */
export async function takeUpKeptCopy(
  path: string,
  bytes: number,
  frameBytes: number,
  integrity: StreamHasher | StreamSeal,
): Promise<void> {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + frameBytes);
  const view = new DataView(frame.buffer);
  const payload = frame.subarray(FRAME_HEADER_BYTES);
  using file = await Deno.open(path, { read: true }).catch((error) => {
    throw new KadError("LWF", `Cannot read back the kept copy "${path}": ${error}`, { cause: error });
  });
  for (let offset = 0; offset < bytes; offset += frameBytes) {
    for (let n = 0; n < frameBytes;) {
      const got = await file.read(payload.subarray(n));
      if (got === null) throw new KadError("LWF", `The kept copy "${path}" ended at ${offset + n} bytes`);
      n += got;
    }
    if (integrity instanceof StreamSeal) {
      // the frame as the server sealed it: its header, then its payload
      writeHeader(view, FrameType.DATA, frameBytes, offset, 0, FLAG_MAC);
      integrity.absorb(frame);
    } else {
      integrity.update(payload);
    }
  }
}
