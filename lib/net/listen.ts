/**
 * TCP and TLS listeners with one-line errors.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { TlsIdentity } from "./tls.ts";

/**
 * Listens on `address`, over TLS presenting `tls` when given; a port in use or a bad address
 * becomes a {@link ConfigError}.
 */
export function listenOn(
  address: { host: string; port: number },
  what: string,
  tls: TlsIdentity | null = null,
): Deno.Listener {
  try {
    const at = { hostname: address.host, port: address.port, transport: "tcp" as const };
    return tls === null ? Deno.listen(at) : Deno.listenTls({ ...at, cert: tls.cert, key: tls.key });
  } catch (error) {
    const reason = error instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError(`Cannot listen for ${what} on ${address.host}:${address.port}: ${reason}`);
  }
}
