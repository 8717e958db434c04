/**
 * The join token: the one secret a deployment's members share. `kad serve` generates one when it
 * is given none; nodes prove they hold it (and the server proves it to them) without ever sending
 * it (see handshake.ts). A token is used through {@link tokenKey}, never as it is.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { deriveKey } from "./key_derivation.ts";

/** Shortest token accepted from a user: a guessable token would let anyone record a handshake and guess it offline. */
export const MIN_TOKEN_LENGTH = 16;

/** The environment variable that hands a node or server its join token. */
export const TOKEN_ENV = "KAD_TOKEN";

/** Bytes of randomness in a generated token (192 bits, 32 base64url characters). */
const GENERATED_TOKEN_BYTES = 24;

/**
 * A fresh random token, printable and safe on a kernel command line (base64url).
 *
 * @returns 192 random bits as 32 base64url characters.
 * @example
 * ```ts
 * import { checkToken, generateToken } from "./join_token.ts";
 *
 * const token = generateToken();
 * console.assert(checkToken(token, "generated") === token);
 * ```
 */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(GENERATED_TOKEN_BYTES));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/**
 * Checks a token given by a user (option, file, environment): surrounding white space (a file's
 * trailing newline) is dropped.
 * @throws {ConfigError} when it is shorter than {@link MIN_TOKEN_LENGTH} or contains white space.
 */
export function checkToken(token: string, from: string): string {
  const trimmed = token.trim();
  if (trimmed.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `The join token from ${from} is too short (${trimmed.length} characters, at least ${MIN_TOKEN_LENGTH}): ` +
        "omit it to let kad serve generate one",
    );
  }
  if (/\s/.test(trimmed)) throw new ConfigError(`The join token from ${from} contains white space`);
  return trimmed;
}

/** The 32-byte key every proof and session key of a deployment derives from. */
export function tokenKey(token: string): Uint8Array {
  return deriveKey(new TextEncoder().encode(token), "kad token");
}
