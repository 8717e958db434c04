/**
 * A gather's data link: one node's stream towards its parent (another agent, or the head's
 * `kad gather`). The child connects and names itself and the job (`link`); both ends prove the
 * job's key (a fresh random key per gather, sealed to each end by the head) with the control
 * handshake's proofs, so every frame after that carries a MAC under keys bound to this child and
 * this job. Then DATA frames, a keepalive PING while the source is quiet, the verdicts of the
 * child's subtree and `end` with the stream's length and SHA-256, which the parent checks.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { AuthError, KadError, ProtocolError, TimeoutError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FLAG_MAC, FRAME_HEADER_BYTES, FrameType, writeHeader } from "../protocol/frame.ts";
import { type GatherVerdict, MAX_VERDICTS } from "../protocol/agent_messages.ts";
import { connectTo } from "../relay/data_link.ts";
import { challengeNode, proveToServer } from "../security/control_handshake.ts";
import { randomNonce } from "../security/key_derivation.ts";

/** What the head seals a gather's key to (each end opens it under its own session). */
export function gatherKeyContext(job: string): string {
  return `kad/1 gather ${job}`;
}

/** How long a quiet source may leave a link without a frame: the sender says it is alive this often. */
export const GATHER_KEEPALIVE_MS = 10_000;
/** Payload bytes of one DATA frame. */
const CHUNK = 64 * 1024;

/** A stream's length and SHA-256 (hex). */
export interface StreamDigest {
  /** Bytes. */
  bytes: number;
  /** SHA-256, lowercase hex. */
  hash: string;
}

/** Where a child sends, and as whom. */
export interface GatherLinkTarget {
  /** The parent's gather listener. */
  host: string;
  port: number;
  /** The job, this node, the job's key. */
  job: string;
  node: string;
  key: Uint8Array;
  /** "tar" when the stream is a directory's archive. */
  stream: "tar" | "raw";
  /** Limit on connecting and the handshake. */
  timeoutMs: number;
}

/** Opens an authenticated link to the parent. */
export async function openGatherLink(target: GatherLinkTarget): Promise<FrameConn> {
  const peer = "the gather parent";
  const conn = new FrameConn(await connectTo(target, peer, target.timeoutMs), {
    peer,
    idleTimeoutMs: target.timeoutMs,
  });
  try {
    const nonce = randomNonce();
    await conn.send(FrameType.AGENT, {
      kind: "link",
      job: target.job,
      node: target.node,
      nonce,
      stream: target.stream,
    });
    await proveToServer(conn, target.key, target.node, nonce);
    conn.idleTimeoutMs = 0;
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/**
 * Sends every byte of `source` as DATA frames (a PING when it is quiet for
 * {@link GATHER_KEEPALIVE_MS}), then the verdicts `verdicts` gives once the source ended (told the
 * bytes sent) and `end`; returns what was sent.
 */
export async function sendGatherStream(
  conn: FrameConn,
  source: ReadableStream<Uint8Array>,
  verdicts: (bytes: number) => Promise<GatherVerdict[]>,
): Promise<StreamDigest> {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + CHUNK);
  const view = new DataView(frame.buffer);
  const hash = createHash("sha256");
  const reader = source.getReader();
  let bytes = 0;
  let pending = reader.read();
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const quiet = new Promise<null>((r) => timer = setTimeout(() => r(null), GATHER_KEEPALIVE_MS));
    const next = await Promise.race([pending, quiet]).finally(() => clearTimeout(timer));
    if (next === null) {
      await conn.send(FrameType.PING, {});
      continue;
    }
    if (next.done) break;
    pending = reader.read();
    hash.update(next.value);
    for (let at = 0; at < next.value.length; at += CHUNK) {
      const piece = next.value.subarray(at, at + CHUNK);
      writeHeader(view, FrameType.DATA, piece.length, bytes, 0, FLAG_MAC);
      frame.set(piece, FRAME_HEADER_BYTES);
      await conn.writeFrame(frame.subarray(0, FRAME_HEADER_BYTES + piece.length));
      bytes += piece.length;
    }
  }
  const all = await verdicts(bytes);
  for (let at = 0; at < all.length; at += MAX_VERDICTS) {
    await conn.send(FrameType.AGENT, { kind: "verdicts", verdicts: all.slice(at, at + MAX_VERDICTS) });
  }
  const digest = { bytes, hash: hash.digest("hex") };
  await conn.send(FrameType.AGENT, { kind: "end", ...digest });
  await conn.closeWrite();
  return digest;
}

/** A child's link, authenticated, before its data. */
export interface IncomingLink {
  /** The child. */
  node: string;
  /** What it sends. */
  stream: "tar" | "raw";
  /** The link. */
  conn: FrameConn;
}

/** A child's stream as received: its digest (checked) and the verdicts of its subtree. */
export interface ReceivedStream extends StreamDigest {
  /** What the child said of itself and of the nodes below it. */
  verdicts: GatherVerdict[];
}

/**
 * Reads a child's first frame and answers its handshake with the job's key (looked up by
 * `keyOf`, which may wait for the job to be known here).
 * @throws {KadError} when it is not a gather link, names an unknown job or child, or fails the proof.
 */
export async function acceptGatherLink(
  raw: Deno.Conn,
  timeoutMs: number,
  keyOf: (job: string, node: string) => Promise<Uint8Array>,
): Promise<{ job: string; link: IncomingLink }> {
  const host = (raw.remoteAddr as Deno.NetAddr).hostname;
  const conn = new FrameConn(raw, { peer: `a gather link from ${host}`, idleTimeoutMs: timeoutMs });
  try {
    const first = await conn.expect(FrameType.AGENT);
    if (first.kind !== "link") {
      throw new ProtocolError(`Expected a gather link from ${host}, got ${first.kind}`);
    }
    conn.peer = first.node;
    await challengeNode(conn, await keyOf(first.job, first.node), { name: first.node, nonce: first.nonce });
    conn.idleTimeoutMs = 3 * GATHER_KEEPALIVE_MS;
    return { job: first.job, link: { node: first.node, stream: first.stream, conn } };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await conn.send(FrameType.ERROR, { code: "REFUSED", message }).catch(() => {});
    conn.close();
    throw error;
  }
}

/**
 * Receives a child's stream into `write` (each payload is reused after `write` resolves) and
 * checks its end: the bytes and SHA-256 the child sent must be what arrived.
 * @throws {KadError} when the link breaks, a frame fails its MAC, or the digest differs.
 */
export async function receiveGatherStream(
  link: IncomingLink,
  write: (bytes: Uint8Array) => Promise<void>,
): Promise<ReceivedStream> {
  const { conn } = link;
  const payload = new Uint8Array(CHUNK);
  const hash = createHash("sha256");
  const verdicts: GatherVerdict[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const header = await conn.readHeader();
      if (header === null) throw new KadError("NRF", `${link.node} closed its gather link before the end`);
      if (header.type === FrameType.DATA) {
        if (header.length > CHUNK || header.offset !== bytes) {
          throw new ProtocolError(`${link.node} sent a gather frame out of place`);
        }
        const body = payload.subarray(0, header.length);
        await conn.readVerified(body);
        hash.update(body);
        bytes += body.length;
        await write(body);
        continue;
      }
      const message = await conn.readMessageBody(header);
      if (message.type === FrameType.PING) continue;
      if (message.type === FrameType.ERROR || message.type === FrameType.ABORT) {
        throw new KadError(message.body.code, message.body.message, { node: link.node });
      }
      if (message.type !== FrameType.AGENT) throw new ProtocolError(`${link.node} sent an unexpected frame`);
      const body = message.body;
      if (body.kind === "verdicts") {
        verdicts.push(...body.verdicts);
      } else if (body.kind === "end") {
        const hex = hash.digest("hex");
        if (body.bytes !== bytes || body.hash !== hex) {
          throw new AuthError(
            `${link.node}'s stream arrived different from what it sent (length or SHA-256)`,
            {
              node: link.node,
            },
          );
        }
        return { bytes, hash: hex, verdicts };
      }
    }
  } catch (error) {
    if (error instanceof TimeoutError) {
      throw new TimeoutError(`${link.node} fell silent during the gather`, { node: link.node, cause: error });
    }
    throw error;
  } finally {
    conn.close();
  }
}
