/**
 * Downstream: how a feeder's child links end. Real loopback sockets, a real fan-out.
 */

import { FrameConn } from "../../lib/net/frame_conn.ts";
import { FrameType } from "../../lib/protocol/frame.ts";
import { Downstream } from "../../lib/relay/downstream.ts";
import { FanOut } from "../../lib/relay/fan_out.ts";
import { assertEquals } from "../_helpers/assert.ts";

const SLOT_BYTES = 256 * 1024;

Deno.test("downstream: a slow child still acknowledging when the stream ends gets every byte and END (no reset)", async () => {
  const total = 64 * SLOT_BYTES; // far more than the sockets buffer: the child is behind at the end
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const feederSide = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const childConn = new FrameConn(await accepted, { peer: "feeder", idleTimeoutMs: 0 });
  listener.close();

  // the child: reads slowly and acknowledges every MiB, as a node does, until END
  const child = (async () => {
    let bytes = 0;
    let acked = 0;
    const payload = new Uint8Array(SLOT_BYTES);
    try {
      for (;;) {
        const header = await childConn.readHeader();
        if (header === null) return { bytes, end: false };
        if (header.type !== FrameType.DATA) {
          return { bytes, end: (await childConn.readMessageBody(header)).type === FrameType.END };
        }
        await childConn.readExactly(payload.subarray(0, header.length), false);
        await new Promise((resolve) => setTimeout(resolve, 2));
        bytes += header.length;
        if (bytes - acked >= 1 << 20) {
          acked = bytes;
          await childConn.send(FrameType.ACK, { held: bytes, need: bytes });
        }
      }
    } catch (error) {
      return { bytes, end: false, error: String(error) };
    } finally {
      childConn.close();
    }
  })();

  const fanOut = new FanOut([], { slots: 4, slotBytes: SLOT_BYTES });
  const downstream = new Downstream(fanOut, {
    deployment: "d",
    self: "feeder",
    security: { timeoutMs: 1000, tls: null },
    sealed: false,
  });
  downstream.attach({ conn: new FrameConn(feederSide, { peer: "child", idleTimeoutMs: 0 }), offset: 0 });
  for (let sent = 0; sent < total; sent += SLOT_BYTES) {
    const slot = await fanOut.acquire();
    slot.payloadArea.fill(7, 0, SLOT_BYTES);
    slot.length = SLOT_BYTES;
    fanOut.publish(slot);
  }
  await fanOut.finish();
  await downstream.end({
    type: FrameType.END,
    body: { bytes: total, hash: "", algorithm: "xxh128", seals: "", rawBytes: null },
    offset: total,
  });
  fanOut.close();
  assertEquals(await child, { bytes: total, end: true });
});
