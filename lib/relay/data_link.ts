/**
 * Data links: the TCP connections that carry the stream from an upstream to a child. The
 * upstream connects to the child's data port and introduces itself (LINK); the child checks that
 * it is its named upstream in this deployment (see upstream_acceptor.ts) and answers with the
 * offset it holds (LINK_OK): 0 for a new link, more when a repair resumes it. On an authenticated
 * deployment both ends prove the link key the server gave them (LINK_CHALLENGE, LINK_AUTH; see
 * security/handshake.ts) and every frame after that carries a MAC. With `--tls` the link is a TLS
 * connection to a child presenting a certificate from the deployment's CA (see net/tls.ts).
 *
 * @module
 */

import { KadError, UnreachableError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import type { PeerAddress } from "../protocol/messages.ts";
import { type LinkIdentity, linkProof, linkSession } from "../security/handshake.ts";
import { randomNonce, toHex } from "../security/key_derivation.ts";
import { startClientTls, type TlsTrust } from "../net/tls.ts";
import type { FanOutput } from "./fan_out.ts";

/**
 * Connects to `address` with a timeout, over TLS when `tls` says whom to trust; failures to
 * connect are NNF errors naming the peer, a failed TLS handshake an AUTH error.
 */
export async function connectTo(
  address: { host: string; port: number },
  peer: string,
  timeoutMs: number,
  tls: TlsTrust | null = null,
): Promise<Deno.Conn> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: address.host, port: address.port, signal: abort.signal });
  } catch (error) {
    const reason = abort.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : messageOf(error);
    throw new UnreachableError(`Cannot connect to ${peer} at ${address.host}:${address.port}: ${reason}`, {
      node: peer,
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
  return tls === null ? conn : await startClientTls(conn, tls, peer, timeoutMs);
}

/** An open data link to a child and the stream offset the child holds. */
export interface ChildLink {
  /** The link. */
  conn: FrameConn;
  /** Bytes the child already holds: the stream resumes there. */
  offset: number;
}

/** How an upstream opens its data links. */
export interface LinkSecurity {
  /** Limit on connecting and the handshakes. */
  timeoutMs: number;
  /** Whom to trust on `--tls` deployments (the CA; no host name check), else null. */
  tls: TlsTrust | null;
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
  security: LinkSecurity,
): Promise<ChildLink> {
  const timeoutMs = security.timeoutMs;
  const conn = new FrameConn(await connectTo(child, child.name, timeoutMs, security.tls), {
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

/**
 * A child link as a fan-out output: receives whole frames; on a `sealed` stream they carry their
 * trailer and go as they are, else they get the link's MAC (or none, unauthenticated).
 */
export function linkOutput(conn: FrameConn, sealed: boolean): FanOutput {
  return {
    name: conn.peer,
    view: "frame",
    write: sealed ? (frame) => conn.writeSealed(frame) : (frame) => conn.writeFrame(frame),
    abort: () => conn.close(),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
