/**
 * TCP listeners with one-line errors.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** Listens on `address`; a port in use or a bad address becomes a {@link ConfigError}. */
export function listenOn(address: { host: string; port: number }, what: string): Deno.Listener {
  try {
    return Deno.listen({ hostname: address.host, port: address.port, transport: "tcp" });
  } catch (error) {
    const reason = error instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError(`Cannot listen for ${what} on ${address.host}:${address.port}: ${reason}`);
  }
}
