/**
 * TLS for control and data links (`--tls`). The server holds a certificate and key (`--cert`,
 * `--key`) that nodes verify against a CA (`--ca`). Data links need a certificate on the
 * accepting side — the child — so the server hands its own to every node that proved the join
 * token, over the encrypted control connection (TLS_LINK_CERT); an upstream checks that its child
 * presents a certificate from the CA. Every node holding the token can already act for the
 * server, so this widens no trust; the per-link keys still decide which peer may feed which.
 *
 * @module
 */

import { AuthError, ConfigError } from "../errors.ts";
import { MAX_PEM_BYTES } from "../protocol/limits.ts";

/** A certificate chain and its private key, PEM. */
export interface TlsIdentity {
  /** The certificate chain (leaf first), PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** What a connecting side trusts. */
export interface TlsTrust {
  /** The CA certificates (PEM) the peer's chain must lead to. */
  ca: string;
  /**
   * The name the peer's certificate must carry. Absent on data links: every node presents the
   * server's certificate, so only its chain is checked (the link key identifies the peer).
   */
  hostname?: string;
}

/** The server's TLS material: its identity, and the CA its children's certificates come from. */
export interface ServerTls extends TlsIdentity {
  /** The CA that signed `cert` (PEM); the server checks its children with it. */
  ca: string;
}

export { MAX_PEM_BYTES } from "../protocol/limits.ts";

/**
 * Upgrades a connected TCP connection to TLS as the client and completes the handshake within
 * `timeoutMs`. A certificate the trust rejects, or a peer that does not speak TLS, is an
 * {@link AuthError} naming `peer`.
 */
export async function startClientTls(
  conn: Deno.TcpConn,
  trust: TlsTrust,
  peer: string,
  timeoutMs: number,
): Promise<Deno.TlsConn> {
  let tls: Deno.TlsConn | null = null;
  const timer = setTimeout(() => (tls ?? conn).close(), timeoutMs);
  try {
    tls = await Deno.startTls(conn, {
      caCerts: [trust.ca],
      ...(trust.hostname === undefined
        ? { unsafelyDisableHostnameVerification: true }
        : { hostname: trust.hostname }),
    });
    await tls.handshake();
    return tls;
  } catch (error) {
    try {
      (tls ?? conn).close();
    } catch {
      // closed by the timer
    }
    const reason = error instanceof Error ? error.message : String(error);
    throw new AuthError(
      `TLS handshake with ${peer} failed: ${reason}` +
        (/certificate|issuer/i.test(reason) ? "" : " (does it run --tls?)"),
      { node: peer, cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks, before anyone connects, that `tls.cert` and `tls.key` make a usable identity and that
 * `tls.ca` trusts it, by a TLS handshake with itself on the loopback interface.
 * @throws {ConfigError} naming what is wrong.
 */
export async function checkServerTls(tls: ServerTls): Promise<void> {
  let listener: Deno.TlsListener;
  try {
    listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert: tls.cert, key: tls.key });
  } catch (error) {
    throw new ConfigError(`The TLS certificate or key cannot be used: ${messageOf(error)}`);
  }
  const accepting = listener.accept().then(async (conn) => {
    try {
      await conn.handshake();
    } catch {
      // the client side reports
    } finally {
      conn.close();
    }
  }, () => {});
  try {
    const port = (listener.addr as Deno.NetAddr).port;
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port });
    const conn = await startClientTls(tcp, { ca: tls.ca }, "itself", 5000);
    conn.close();
  } catch (error) {
    throw new ConfigError(
      `The TLS certificate is not trusted by the CA given: ${
        messageOf(error instanceof AuthError ? error.cause : error)
      }` +
        " (--ca must name the CA that signed --cert; nodes need the same --ca)",
    );
  } finally {
    listener.close();
    await accepting;
  }
}

/**
 * Reads a PEM file for `option`; a missing, unreadable, oversized or non-PEM file is a
 * {@link ConfigError}.
 */
export async function readPem(path: string, option: string): Promise<string> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.size > MAX_PEM_BYTES) throw new Error(`larger than ${MAX_PEM_BYTES} bytes`);
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError(`Cannot read ${option} "${path}": ${messageOf(error)}`);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new ConfigError(`${option} "${path}" is not a PEM file (no "-----BEGIN" line)`);
  }
  return text;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
