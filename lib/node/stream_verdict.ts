/**
 * A node's verdict on the stream it received, against the source's END: the byte count, and the
 * hash of every byte (an unsealed stream) or the chain of the frames' seals (a sealed one).
 *
 * @module
 */

import type { StreamHasher } from "../integrity/stream_hash.ts";
import type { EndMessage, WireError } from "../protocol/messages.ts";
import { StreamSeal } from "../security/stream_seal.ts";

/**
 * What the node got, against the source's END: the hash it reports (its own over every byte, or on
 * a sealed stream the source's, once its chain of seals is the source's) and its verdict.
 */
export function verdictOf(
  bytes: number,
  integrity: StreamHasher | StreamSeal,
  end: EndMessage,
): { hash: string; verdict: WireError | null } {
  const sealed = integrity instanceof StreamSeal;
  const own = sealed ? integrity.chainDigest() : integrity.digest();
  const matches = own === (sealed ? end.seals : end.hash);
  // a sealed copy has the source's hash when its seals match, and no hash of its own otherwise
  const hash = sealed ? (matches ? end.hash : "") : own;
  if (bytes !== end.bytes) {
    return {
      hash,
      verdict: { code: "BBC", message: `Received ${bytes} bytes, the source sent ${end.bytes}` },
    };
  }
  if (!matches) {
    const what = sealed
      ? "The frames' seals differ from the source's"
      : "Hash of the received stream differs from the source's";
    return { hash, verdict: { code: "HASH", message: what } };
  }
  return { hash, verdict: null };
}
