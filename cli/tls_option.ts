/**
 * `--tls`: the server's `--cert`, `--key` and `--ca`, a node's `--ca`.
 *
 * @module
 */

import { readPem, type ServerTls } from "../lib/net/tls.ts";
import { type FlagSpec, given, type ParsedFlags, read, UsageError } from "./flags.ts";
import { COMMON, JOIN_FLAGS, SERVE_FLAGS } from "./commands.ts";

/** The server's TLS material, or null without `--tls`. */
export async function serverTls(flags: ParsedFlags, command: string): Promise<ServerTls | null> {
  if (!tlsWanted(flags, command, [SERVE_FLAGS.cert, SERVE_FLAGS.key, SERVE_FLAGS.ca])) return null;
  const cert = read(flags, SERVE_FLAGS.cert, command);
  const key = read(flags, SERVE_FLAGS.key, command);
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
    ca: await readPem(read(flags, SERVE_FLAGS.ca, command) ?? cert, "--ca"),
  };
}

/** A node's TLS trust (the CA that signed the server's certificate), or null without `--tls`. */
export async function nodeTls(flags: ParsedFlags, command: string): Promise<{ ca: string } | null> {
  if (!tlsWanted(flags, command, [JOIN_FLAGS.ca])) return null;
  const ca = read(flags, JOIN_FLAGS.ca, command);
  if (ca === undefined) {
    throw new UsageError("--tls needs --ca FILE (the CA that signed the server's certificate)", command);
  }
  return { ca: await readPem(ca, "--ca") };
}

function tlsWanted(flags: ParsedFlags, command: string, options: FlagSpec[]): boolean {
  if (given(flags, SERVE_FLAGS.tls)) {
    if (given(flags, COMMON.insecure)) {
      throw new UsageError("--tls needs a join token: drop --insecure", command);
    }
    return true;
  }
  const stray = options.find((spec) => given(flags, spec));
  if (stray !== undefined) throw new UsageError(`--${stray.name} is only used with --tls`, command);
  return false;
}
