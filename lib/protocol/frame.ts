/**
 * The kad frame: a fixed 16-byte header followed by a payload.
 *
 * ```
 *  0      1      2             4                   8                                16
 *  +------+------+-------------+-------------------+---------------------------------+
 *  | 'K'  | type | flags (u16) | payload len (u32) | stream offset (u64)             |
 *  +------+------+-------------+-------------------+---------------------------------+
 * ```
 * All integers are big-endian. See docs/protocol.md.
 *
 * @module
 */

import { NotKadError, ProtocolError } from "../errors.ts";

/** Version of the wire protocol spoken by this build. */
export const PROTOCOL_VERSION = 2;

/** The server's control port unless told otherwise. */
export const DEFAULT_CONTROL_PORT = 9997;

/** First byte of every frame. */
export const FRAME_MAGIC = 0x4b; // 'K'

/** First bytes of TLS records (content types handshake and alert) a plain peer may receive. */
const TLS_HANDSHAKE = 0x16;
const TLS_ALERT = 0x15;

/** Size of the fixed frame header in bytes. */
export const FRAME_HEADER_BYTES = 16;

/** Largest control (JSON) payload accepted. */
export const MAX_CONTROL_PAYLOAD = 64 * 1024;

/** Largest data payload accepted. */
export const MAX_DATA_PAYLOAD = 4 * 1024 * 1024;

/** Flag bit: a {@link MAC_TRAILER_BYTES}-byte tag follows the payload (authenticated connections). */
export const FLAG_MAC = 0x0001;

/** Bytes of the tag after the payload of a frame flagged {@link FLAG_MAC}. */
export const MAC_TRAILER_BYTES = 16;

/** Frame types. Values 0x26–0x2f are reserved for authentication, 0x35–0x3f for repair, 0x51–0x5f for agents. */
export const FrameType = {
  /** node → server: protocol version, name, data address. */
  HELLO: 0x01,
  /** server → node: the node is registered. */
  ACCEPT: 0x02,
  /** server → node: upstream, children, deployment id. */
  PLAN: 0x03,
  /** upstream → child, first frame of a data link. */
  LINK: 0x04,
  /** child → upstream: link accepted, with the offset the child holds. */
  LINK_OK: 0x05,
  /** upstream → child: a chunk of the stream at the header's offset. */
  DATA: 0x06,
  /** upstream → child: end of stream, total bytes and hash. */
  END: 0x07,
  /** node → server: the node's final report. */
  REPORT: 0x08,
  /** node → server: bytes received so far. */
  PROGRESS: 0x09,
  /** either way on the control connection: keepalive. */
  PING: 0x0a,
  /** either way: a refusal or failure, with code and message. */
  ERROR: 0x0b,
  /** server → node, or upstream → child: stop now. */
  ABORT: 0x0c,
  /** node → server: a phase of the node's installation (booted, partitioned, configured…). */
  PHASE: 0x0d,
  /**
   * child → upstream on a data link: what the child and the nodes it feeds hold, so the upstream
   * keeps every byte a repair below it may need.
   */
  ACK: 0x0e,
  /** server → node: the server's nonce and its proof of the token (authentication range 0x20–0x2f). */
  CHALLENGE: 0x20,
  /** node → server: the node's proof of the token. */
  AUTH: 0x21,
  /** child → upstream (data): the child's nonce. */
  LINK_CHALLENGE: 0x22,
  /** upstream → child (data): the upstream's proof of the link key. */
  LINK_AUTH: 0x23,
  /** server → node, after AUTH on a `--tls` control connection: the certificate for the data port. */
  TLS_LINK_CERT: 0x24,
  /** node → server, answering TLS_LINK_CERT: the port of the node's TLS data listener. */
  DATA_PORT: 0x25,
  /** server → node: stop feeding child `node`, and adopt the listed nodes (repair range 0x30–0x3f). */
  DROP: 0x30,
  /** node → server: my upstream link broke; I hold `offset` bytes and wait for a new upstream. */
  UPSTREAM_LOST: 0x31,
  /** node → server: I now feed `child` from `offset`, resending `resent` bytes from my ring. */
  ADOPTED: 0x32,
  /** node → server: I could not feed `child` (its offset is no longer retained here, or it is unreachable). */
  ADOPT_FAILED: 0x33,
  /** server → node: accept your stream from `upstream` from now on. */
  NEW_UPSTREAM: 0x34,
  /**
   * Agents, their head and its clients (`kad agent`, `kad head`, `kad run`, `kad gather`): one frame
   * type whose JSON body says its kind (protocol/agent_messages.ts).
   */
  AGENT: 0x50,
} as const;

/** One of the {@link FrameType} values. */
export type FrameTypeValue = typeof FrameType[keyof typeof FrameType];

const KNOWN_TYPES = new Set<number>(Object.values(FrameType));

/** A decoded frame header. */
export interface FrameHeader {
  /** The frame type. */
  type: FrameTypeValue;
  /** Flag bits: {@link FLAG_MAC} or 0. */
  flags: number;
  /** Payload length in bytes. */
  length: number;
  /** Stream offset (DATA: offset of the first payload byte; END: total bytes). */
  offset: number;
}

/** Size limits applied when decoding headers. */
export interface FrameLimits {
  /** Largest control payload. */
  maxControl: number;
  /** Largest data payload. */
  maxData: number;
}

/** The limits of this protocol version. */
export const DEFAULT_LIMITS: FrameLimits = { maxControl: MAX_CONTROL_PAYLOAD, maxData: MAX_DATA_PAYLOAD };

/** Writes a header through `view` at byte `at` ({@link FRAME_HEADER_BYTES} bytes from there). */
export function writeHeader(
  view: DataView,
  type: FrameTypeValue,
  length: number,
  offset: number,
  at = 0,
  flags = 0,
): void {
  view.setUint8(at, FRAME_MAGIC);
  view.setUint8(at + 1, type);
  view.setUint16(at + 2, flags);
  view.setUint32(at + 4, length);
  view.setBigUint64(at + 8, BigInt(offset));
}

const TLS_PEER_MESSAGE = "Peer speaks TLS: run both sides with --tls, or neither";

/**
 * True when `bytes` (at least 2) begin like a TLS record rather than a frame — a TLS peer's
 * handshake or alert reaching a plain one.
 */
export function looksLikeTls(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && (bytes[0] === TLS_HANDSHAKE || bytes[0] === TLS_ALERT) && bytes[1] === 3;
}

/** The error for a peer found to speak TLS where a frame was expected. */
export function tlsPeerError(): ProtocolError {
  return new ProtocolError(TLS_PEER_MESSAGE);
}

/** Decodes and validates a header; throws {@link ProtocolError} on anything malformed or oversized. */
export function decodeHeader(bytes: Uint8Array, limits: FrameLimits = DEFAULT_LIMITS): FrameHeader {
  if (bytes.length < FRAME_HEADER_BYTES) throw new ProtocolError("Truncated frame header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEADER_BYTES);
  const magic = view.getUint8(0);
  if (magic !== FRAME_MAGIC) {
    if (looksLikeTls(bytes)) throw tlsPeerError();
    throw new NotKadError(
      `Peer does not speak the kad protocol: bad magic byte 0x${hex(magic)}`,
      bytes.slice(0, FRAME_HEADER_BYTES),
    );
  }
  const type = view.getUint8(1);
  if (!KNOWN_TYPES.has(type)) throw new ProtocolError(`Unknown frame type 0x${hex(type)}`);
  const flags = view.getUint16(2);
  if ((flags & ~FLAG_MAC) !== 0) throw new ProtocolError(`Unsupported frame flags 0x${flags.toString(16)}`);
  const length = view.getUint32(4);
  const max = type === FrameType.DATA ? limits.maxData : limits.maxControl;
  if (length > max) throw new ProtocolError(`Frame of ${length} bytes exceeds the limit of ${max}`);
  const offset = view.getBigUint64(8);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError("Frame offset out of range");
  return { type: type as FrameTypeValue, flags, length, offset: Number(offset) };
}

/** Encodes a whole frame with a JSON payload (without its MAC trailer, which the connection adds). */
export function encodeJsonFrame(type: FrameTypeValue, body: unknown, offset = 0, flags = 0): Uint8Array {
  const payload = new TextEncoder().encode(JSON.stringify(body));
  if (payload.length > MAX_CONTROL_PAYLOAD) {
    throw new ProtocolError(`Control message of ${payload.length} bytes exceeds the limit`);
  }
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeHeader(new DataView(frame.buffer), type, payload.length, offset, 0, flags);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}
