/**
 * A TCP proxy for one data link that understands kad framing and flips one bit of one payload
 * byte: corruption that TCP's checksum would not catch, to prove kad's end-to-end hash does.
 */

import {
  decodeHeader,
  FLAG_MAC,
  FRAME_HEADER_BYTES,
  FrameType,
  MAC_TRAILER_BYTES,
} from "../../lib/protocol/frame.ts";
import { writeAll } from "../../lib/net/frame_conn.ts";
import { OneConnectionProxy, readFull } from "./raw_peer.ts";

/** A proxy listening on a free loopback port that forwards to `target`, flipping a bit at `flipAt`. */
export class BitFlipProxy extends OneConnectionProxy {
  flipped = false;

  constructor(target: { host: string; port: number }, readonly flipAt: number) {
    super(target);
  }

  protected override async relay(inbound: Deno.Conn, outbound: Deno.Conn): Promise<void> {
    const back = inbound.writable && outbound.readable.pipeTo(inbound.writable).catch(() => {});
    await this.#forward(inbound, outbound).catch(() => {});
    await outbound.closeWrite().catch(() => {}); // closed already
    await back;
  }

  /** Copies frames, counting payload bytes of DATA frames, and flips bit 0 of payload byte `flipAt`. */
  async #forward(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    let payloadSeen = 0;
    const header = new Uint8Array(FRAME_HEADER_BYTES);
    for (;;) {
      if (!await readFull(from, header)) return;
      const h = decodeHeader(header);
      // an authenticated frame's MAC trailer travels with its payload
      const payload = new Uint8Array(h.length + ((h.flags & FLAG_MAC) ? MAC_TRAILER_BYTES : 0));
      if (!await readFull(from, payload)) return;
      if (h.type === FrameType.DATA && !this.flipped && payloadSeen + h.length > this.flipAt) {
        payload[this.flipAt - payloadSeen] ^= 1;
        this.flipped = true;
      }
      if (h.type === FrameType.DATA) payloadSeen += h.length;
      await writeAll(to, header);
      await writeAll(to, payload);
    }
  }
}
