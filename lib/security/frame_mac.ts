/**
 * Control frame authentication on one connection. Every control frame after the handshake (on a
 * data link: LINK_OK, ACK, END, ABORT; on a control connection: all of them) carries a 16-byte
 * tag: ChaCha20-Poly1305 with the frame (header and payload) as associated data and no plaintext,
 * under a key of its own per direction, with the count of control frames on that connection as
 * nonce. So a control frame cannot be altered, injected, dropped, reordered or replayed from
 * another connection without its tag failing. Session keys are fresh per connection
 * (handshake.ts), which keeps every (key, nonce) pair unique. DATA frames are sealed end to end
 * instead (stream_seal.ts).
 *
 * @module
 */

import { createCipheriv, createDecipheriv } from "node:crypto";
import { MAC_TRAILER_BYTES } from "../protocol/frame.ts";
import { KEY_BYTES } from "./key_derivation.ts";

const MAC_BYTES = MAC_TRAILER_BYTES;

const CIPHER = "chacha20-poly1305";
/** The frames are associated data only: nothing is encrypted. */
const NO_PLAINTEXT = { plaintextLength: 0 };

/** Tags and checks the frames of one direction of a connection, counting them. */
class DirectionMac {
  readonly #key: Uint8Array;
  readonly #nonce = new Uint8Array(12);
  readonly #nonceView = new DataView(this.#nonce.buffer);
  #seq = 0;

  constructor(key: Uint8Array) {
    if (key.length !== KEY_BYTES) throw new RangeError(`A frame key has ${KEY_BYTES} bytes`);
    this.#key = key;
  }

  /** The tag of the next frame; advances the sequence number. */
  tag(header: Uint8Array, payload: Uint8Array): Uint8Array {
    const cipher = createCipheriv(CIPHER, this.#key, this.#next(), { authTagLength: MAC_BYTES });
    cipher.setAAD(header, NO_PLAINTEXT);
    cipher.setAAD(payload, NO_PLAINTEXT);
    cipher.final();
    return cipher.getAuthTag();
  }

  /** Whether `tag` is the next frame's tag; advances the sequence number either way. */
  check(header: Uint8Array, payload: Uint8Array, tag: Uint8Array): boolean {
    const decipher = createDecipheriv(CIPHER, this.#key, this.#next(), { authTagLength: MAC_BYTES });
    decipher.setAAD(header, NO_PLAINTEXT);
    decipher.setAAD(payload, NO_PLAINTEXT);
    decipher.setAuthTag(tag);
    try {
      decipher.final();
      return true;
    } catch {
      return false;
    }
  }

  #next(): Uint8Array {
    this.#nonceView.setBigUint64(4, BigInt(this.#seq++));
    return this.#nonce;
  }
}

/** The MAC state of one authenticated connection: a key and a frame counter per direction. */
export class FrameAuth {
  readonly #send: DirectionMac;
  readonly #receive: DirectionMac;

  /** Creates the state from the two directions' keys ({@link KEY_BYTES} each). */
  constructor(sendKey: Uint8Array, receiveKey: Uint8Array) {
    this.#send = new DirectionMac(sendKey);
    this.#receive = new DirectionMac(receiveKey);
  }

  /** The tag of the next frame sent; call in the order the frames go on the wire. */
  sign(header: Uint8Array, payload: Uint8Array): Uint8Array {
    return this.#send.tag(header, payload);
  }

  /** Whether the next frame received carries a valid tag. */
  verify(header: Uint8Array, payload: Uint8Array, tag: Uint8Array): boolean {
    return this.#receive.check(header, payload, tag);
  }
}
