/**
 * DATA frames sealed end to end. On an authenticated deployment the server seals every DATA frame
 * once, under the deployment's stream key (fresh and random, sent to each node sealed in its PLAN),
 * with a 16-byte trailer: an 8-byte nonce — the count of frames the server has sealed, so no nonce
 * ever tags two messages — and the frame's UMAC-64 tag over its header and payload. Every node
 * checks the tag before a byte of the frame reaches its sink or its children, and forwards the
 * frame as it came: one MAC per frame per node, instead of a check and a fresh tag on every link.
 *
 * The header carries the frame's stream offset and length, which each node checks against what it
 * holds, so a frame cannot be altered, injected, reordered, dropped or moved to another place in
 * the stream; a genuine frame replayed at its own offset carries the same bytes. Control frames
 * (LINK_OK, ACK, END, ABORT) keep their per-link MACs (frame_mac.ts).
 *
 * The seals also say what a node got, in place of a hash of every byte: each frame's UHASH (its
 * tag before the pad — the same for the same bytes whatever the nonce, and secret) goes into a
 * SHA-256 chain, on the server in the order it cut the stream and on each node in the order it
 * checked the frames. END carries the server's chain; a node whose chain differs did not get the
 * stream's bytes — say a file that changed before the server read it again for a repair.
 *
 * The frames and their trailers live in the MAC's own memory (the fan-out's arena), checked and
 * sealed where they lie.
 *
 * @module
 */

import { createHash, type Hash } from "node:crypto";
import { FRAME_HEADER_BYTES, MAC_TRAILER_BYTES } from "../protocol/frame.ts";
import { deriveKey } from "./key_derivation.ts";
import { Umac64, UMAC64_KEY_BYTES, UMAC64_TAG_BYTES } from "./umac64.ts";

/** Bytes after a sealed frame's payload: nonce then tag. */
export const SEAL_TRAILER_BYTES = MAC_TRAILER_BYTES;
const NONCE_BYTES = SEAL_TRAILER_BYTES - UMAC64_TAG_BYTES;

/** The seal of one deployment's DATA frames, with the arena they live in. */
export class StreamSeal {
  /** Where frames are placed to be sealed or checked in place (a fan-out's arena). */
  readonly arena: Uint8Array;
  readonly #umac: Umac64;
  readonly #scratchAt: number;
  readonly #scratchBytes: number;
  readonly #nonce = new Uint8Array(NONCE_BYTES);
  readonly #nonceView = new DataView(this.#nonce.buffer);
  readonly #chain: Hash = createHash("sha256");
  #sealed = 0;

  /**
   * A seal under `streamKey` (32 bytes) with an arena of `arenaBytes`, and room to seal or check a
   * frame of up to `maxPayload` bytes that lies elsewhere.
   */
  constructor(streamKey: Uint8Array, arenaBytes: number, maxPayload: number) {
    const key = deriveKey(streamKey, "kad/2 stream umac-64").subarray(0, UMAC64_KEY_BYTES);
    this.#scratchBytes = FRAME_HEADER_BYTES + maxPayload;
    this.#umac = new Umac64(key, arenaBytes + this.#scratchBytes);
    this.arena = this.#umac.region.subarray(0, arenaBytes);
    this.#scratchAt = arenaBytes;
  }

  /**
   * Seals `frame` (header, payload, then {@link SEAL_TRAILER_BYTES} of room): writes the next nonce
   * and the tag into its trailer. Only the stream's source seals. A frame cut `first` (not a
   * replay of bytes cut before) joins the chain.
   */
  seal(frame: Uint8Array, first: boolean): void {
    const length = frame.length - SEAL_TRAILER_BYTES;
    const trailer = frame.subarray(length);
    // the emission counter, big-endian, without a BigInt per frame (it stays below 2^53)
    const count = this.#sealed++;
    this.#nonceView.setUint32(0, Math.floor(count / 2 ** 32));
    this.#nonceView.setUint32(4, count >>> 0);
    trailer.set(this.#nonce);
    this.#umac.tag(this.#placed(frame, length), length, this.#nonce, trailer.subarray(NONCE_BYTES));
    if (first) this.#chain.update(this.#umac.lastHash);
  }

  /**
   * Whether the trailer of `frame` (header, payload, trailer) holds a valid nonce and tag. A valid
   * frame joins the chain: check the frames in stream order, each once.
   */
  check(frame: Uint8Array): boolean {
    const length = frame.length - SEAL_TRAILER_BYTES;
    if (length < FRAME_HEADER_BYTES) return false;
    const trailer = frame.subarray(length);
    const valid = this.#umac.verify(
      this.#placed(frame, length),
      length,
      trailer.subarray(0, NONCE_BYTES),
      trailer.subarray(NONCE_BYTES),
    );
    if (valid) this.#chain.update(this.#umac.lastHash);
    return valid;
  }

  /**
   * Adds `frame` (header and payload, no trailer) to the chain unchecked: a restarted node taking
   * back the frames it wrote before it was cut off, so that its chain still covers the whole stream
   * (bytes that changed meanwhile make it differ from the server's, and the node fail).
   */
  absorb(frame: Uint8Array): void {
    this.#chain.update(this.#umac.hash(this.#placed(frame, frame.length), frame.length));
  }

  /** The chain of the frames sealed first (source) or checked (relay), lowercase hex; call once. */
  chainDigest(): string {
    return this.#chain.digest("hex");
  }

  /** Where the first `length` bytes of `frame` are in the MAC's memory: in the arena, or copied. */
  #placed(frame: Uint8Array, length: number): number {
    const region = this.#umac.region;
    if (frame.buffer === region.buffer) {
      const at = frame.byteOffset - region.byteOffset;
      if (at >= 0 && at + length <= this.arena.length) return at;
    }
    if (length > this.#scratchBytes) throw new RangeError(`A frame of ${length} bytes is too large to seal`);
    region.set(frame.subarray(0, length), this.#scratchAt);
    return this.#scratchAt;
  }
}
