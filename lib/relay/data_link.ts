/**
 * Data links: the TCP connections that carry the stream from an upstream to a child. The
 * upstream connects to the child's data port and introduces itself (LINK); the child checks that
 * it is its named upstream in this deployment (see upstream_acceptor.ts) and answers with the
 * offset it holds (LINK_OK): 0 for a new link, more when a repair resumes it. On an authenticated
 * deployment both ends prove the link key the server gave them (LINK_CHALLENGE, LINK_AUTH; see
 * security/handshake.ts) and every frame after that carries a MAC.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import type { PeerAddress } from "../protocol/messages.ts";
import { type LinkIdentity, linkProof, linkSession } from "../security/handshake.ts";
import { randomNonce, toHex } from "../security/key_derivation.ts";
import type { FanOutput } from "./fan_out.ts";

/** Connects to `address` with a timeout; failures are NNF errors naming the peer. */
export async function connectTo(address: { host: string; port: number }, peer: string, timeoutMs: number) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    return await Deno.connect({ hostname: address.host, port: address.port, signal: abort.signal });
  } catch (error) {
    const reason = abort.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : messageOf(error);
    throw new KadError("NNF", `Cannot connect to ${peer} at ${address.host}:${address.port}: ${reason}`, {
      node: peer,
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** An open data link to a child and the stream offset the child holds. */
export interface ChildLink {
  /** The link. */
  conn: FrameConn;
  /** Bytes the child already holds: the stream resumes there. */
  offset: number;
}

/**
 * Opens the data link to a child, proves `key` (the link's key; null on an `--insecure`
 * deployment) and waits for its LINK_OK — authenticated by the child with the same key — which
 * says where the stream resumes.
 */
export async function connectChild(
  child: PeerAddress,
  link: LinkIdentity,
  key: Uint8Array | null,
  timeoutMs: number,
): Promise<ChildLink> {
  const conn = new FrameConn(await connectTo(child, child.name, timeoutMs), {
    peer: child.name,
    idleTimeoutMs: timeoutMs,
  });
  try {
    const nonce = key ? randomNonce() : "";
    await conn.send(FrameType.LINK, { ...link, nonce });
    if (key) {
      const challenge = await conn.expect(FrameType.LINK_CHALLENGE);
      await conn.send(FrameType.LINK_AUTH, { proof: toHex(linkProof(key, link, nonce, challenge.nonce)) });
      conn.auth = linkSession(key, link, "upstream", nonce, challenge.nonce);
    }
    const ok = await conn.expect(FrameType.LINK_OK);
    return { conn, offset: ok.offset };
  } catch (error) {
    conn.close();
    if (error instanceof KadError && error.code !== "PROTO" && error.code !== "AUTH") {
      throw new KadError("NNF", `Data link to ${child.name} failed: ${error.message}`, { node: child.name });
    }
    throw error;
  }
}

/** A child link as a fan-out output: receives whole frames. */
export function linkOutput(conn: FrameConn): FanOutput {
  return {
    name: conn.peer,
    view: "frame",
    write: (frame) => conn.writeFrame(frame),
    abort: () => conn.close(),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
