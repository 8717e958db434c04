/**
 * `--tls`: the server's `--cert`, `--key` and `--ca`, a node's `--ca`.
 *
 * @module
 */

import { readPem, type ServerTls } from "../lib/net/tls.ts";
import { type ParsedFlags, str, UsageError } from "./flags.ts";

/** The server's TLS material, or null without `--tls`. */
export async function serverTls(flags: ParsedFlags, command: string): Promise<ServerTls | null> {
  if (!tlsWanted(flags, command, ["cert", "key", "ca"])) return null;
  const cert = str(flags, "cert");
  const key = str(flags, "key");
  if (cert === undefined || key === undefined) {
    throw new UsageError(
      "--tls needs --cert FILE and --key FILE (the server's certificate and key)",
      command,
    );
  }
  return {
    cert: await readPem(cert, "--cert"),
    key: await readPem(key, "--key"),
    // a self-signed certificate is its own CA
    ca: await readPem(str(flags, "ca") ?? cert, "--ca"),
  };
}

/** A node's TLS trust (the CA that signed the server's certificate), or null without `--tls`. */
export async function nodeTls(flags: ParsedFlags, command: string): Promise<{ ca: string } | null> {
  if (!tlsWanted(flags, command, ["ca"])) return null;
  const ca = str(flags, "ca");
  if (ca === undefined) {
    throw new UsageError("--tls needs --ca FILE (the CA that signed the server's certificate)", command);
  }
  return { ca: await readPem(ca, "--ca") };
}

function tlsWanted(flags: ParsedFlags, command: string, options: string[]): boolean {
  if (flags.tls === true) {
    if (flags.insecure === true) {
      throw new UsageError("--tls needs a join token: drop --insecure", command);
    }
    return true;
  }
  const stray = options.find((name) => str(flags, name) !== undefined);
  if (stray !== undefined) throw new UsageError(`--${stray} is only used with --tls`, command);
  return false;
}
