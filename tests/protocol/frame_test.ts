import {
  decodeHeader,
  encodeJsonFrame,
  FLAG_MAC,
  FRAME_HEADER_BYTES,
  FrameType,
  looksLikeTls,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  writeHeader,
} from "../../lib/protocol/frame.ts";
import { ProtocolError } from "../../lib/errors.ts";
import { assert, assertEquals, assertThrows } from "../_helpers/assert.ts";

function header(type: number, length: number, offset = 0): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES);
  writeHeader(new DataView(bytes.buffer), type as 1, length, offset);
  return bytes;
}

Deno.test("frame: a DATA header round-trips type, length and a 64-bit offset", () => {
  const h = decodeHeader(header(FrameType.DATA, 262144, 2 ** 40 + 7));
  assertEquals(h, { type: FrameType.DATA, flags: 0, length: 262144, offset: 2 ** 40 + 7 });
});

Deno.test("frame: a JSON frame carries its payload after the header", () => {
  const frame = encodeJsonFrame(FrameType.PROGRESS, { bytes: 5 }, 9);
  const h = decodeHeader(frame);
  assertEquals(h.length, frame.length - FRAME_HEADER_BYTES);
  assertEquals(h.offset, 9);
  assertEquals(JSON.parse(new TextDecoder().decode(frame.subarray(FRAME_HEADER_BYTES))), { bytes: 5 });
});

Deno.test("frame: a truncated header is rejected", () => {
  assertThrows(() => decodeHeader(header(FrameType.PING, 0).subarray(0, 15)), ProtocolError);
});

Deno.test("frame: garbage (an HTTP request) is rejected as not kad", () => {
  const garbage = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  assertThrows(() => decodeHeader(garbage), /does not speak the kad protocol/);
});

Deno.test("frame: a TLS record (a --tls peer's handshake or alert) is named as such", () => {
  const clientHello = new Uint8Array([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0, 0, 0xc4, 3, 3, 0, 0, 0, 0, 0]);
  assertThrows(() => decodeHeader(clientHello), /Peer speaks TLS: run both sides with --tls, or neither/);
  assert(looksLikeTls(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])));
  assert(!looksLikeTls(header(FrameType.PING, 0)));
});

Deno.test("frame: unknown types and unknown flags are rejected; the MAC flag is read", () => {
  const bytes = header(FrameType.PING, 0);
  bytes[1] = 0x7f;
  assertThrows(() => decodeHeader(bytes), /Unknown frame type/);
  const flagged = header(FrameType.PING, 0);
  flagged[3] = 2;
  assertThrows(() => decodeHeader(flagged), /flags/);
  flagged[3] = FLAG_MAC;
  assertEquals(decodeHeader(flagged).flags, FLAG_MAC);
});

Deno.test("frame: oversized control and data frames are rejected before any payload is read", () => {
  assertThrows(() => decodeHeader(header(FrameType.HELLO, MAX_CONTROL_PAYLOAD + 1)), /exceeds the limit/);
  assertThrows(() => decodeHeader(header(FrameType.DATA, MAX_DATA_PAYLOAD + 1)), /exceeds the limit/);
  assertEquals(decodeHeader(header(FrameType.DATA, MAX_DATA_PAYLOAD)).length, MAX_DATA_PAYLOAD);
});

Deno.test("frame: an offset beyond 2^53 is rejected", () => {
  const bytes = header(FrameType.DATA, 1);
  new DataView(bytes.buffer).setBigUint64(8, 2n ** 60n);
  assertThrows(() => decodeHeader(bytes), /offset out of range/);
});

Deno.test("frame: a control message over 64 KiB cannot be encoded", () => {
  assertThrows(
    () => encodeJsonFrame(FrameType.ERROR, { code: "PROTO", message: "x".repeat(70_000) }),
    ProtocolError,
  );
});
