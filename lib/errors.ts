/**
 * Typed errors of the kad engine. Every failure that reaches a report or the CLI
 * is a {@link KadError} carrying a {@link ErrorCode}, the node it concerns and its cause.
 *
 * @module
 */

/**
 * Per-node failure codes, in the tradition of Ka-deploy and nettee.
 *
 * - `NWF`  network write failure: the stream could not be written to this node.
 * - `LWF`  local write failure: the node's sink (tar, dd, file, command) failed.
 * - `NRF`  network read failure: the node's stream from its upstream broke before the end.
 * - `LRF`  local read failure: the source on the server failed.
 * - `BBC`  bad byte count: the node received a different number of bytes than the source sent.
 * - `HASH` the node's hash of the stream differs from the source's.
 * - `NNF`  no connection: the node could not be reached, or vanished before reporting.
 * - `TIMEOUT` a wait on a peer passed its timeout.
 * - `PROTO` the peer broke the protocol (garbage, version mismatch, oversized frame).
 * - `ABORT` the deployment was aborted (operator interrupt, server shutting down).
 * - `REFUSED` the server refused the node (late join, duplicate name).
 * - `GAP`  a repair found nobody still holding the bytes this node lacked (rings too small,
 *   source not seekable).
 * - `AUTH` authentication failed: a wrong join token, or a frame whose MAC does not verify
 *   (tampered with, injected or replayed on the wire).
 * - `POST` the node holds a verified copy but its post-install step failed, hung or was cut off.
 */
export type ErrorCode =
  | "NWF"
  | "LWF"
  | "NRF"
  | "LRF"
  | "BBC"
  | "HASH"
  | "NNF"
  | "TIMEOUT"
  | "PROTO"
  | "ABORT"
  | "REFUSED"
  | "GAP"
  | "AUTH"
  | "POST";

/** Every error code, for validation of codes that arrive on the wire. */
export const ERROR_CODES: readonly ErrorCode[] = [
  "NWF",
  "LWF",
  "NRF",
  "LRF",
  "BBC",
  "HASH",
  "NNF",
  "TIMEOUT",
  "PROTO",
  "ABORT",
  "REFUSED",
  "GAP",
  "AUTH",
  "POST",
];

/** Options of a {@link KadError}. */
export interface KadErrorOptions {
  /** The node the error concerns, when known. */
  node?: string;
  /** The underlying error. */
  cause?: unknown;
}

/** The base of all kad errors: a failure code, a node and a cause. */
export class KadError extends Error {
  /** The failure code as reported per node. */
  readonly code: ErrorCode;
  /** The node this error concerns, if any. */
  readonly node?: string;

  /** Creates an error with a code and a one-line message. */
  constructor(code: ErrorCode, message: string, options: KadErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "KadError";
    this.code = code;
    this.node = options.node;
  }
}

/** The peer sent something that is not kad protocol, or an unsupported version. */
export class ProtocolError extends KadError {
  /** Creates a protocol error. */
  constructor(message: string, options: KadErrorOptions = {}) {
    super("PROTO", message, options);
    this.name = "ProtocolError";
  }
}

/** A peer could not be reached: connection refused, no route, no answer to the connection request. */
export class UnreachableError extends KadError {
  /** Creates the error (code NNF). */
  constructor(message: string, options: KadErrorOptions = {}) {
    super("NNF", message, options);
    this.name = "UnreachableError";
  }
}

/** The peer answered with bytes that are not a kad frame (an HTTP or SSH server, say). */
export class NotKadError extends ProtocolError {
  /** Creates the error for the first bytes received. */
  constructor(message: string, readonly received: Uint8Array, options: KadErrorOptions = {}) {
    super(message, options);
    this.name = "NotKadError";
  }

  /** The bytes received, as printable text ("HTTP/1.1 400 Bad Request"). */
  get receivedText(): string {
    let text = "";
    for (const byte of this.received) text += byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : ".";
    return text.replace(/\.+$/, "");
  }
}

/** An ABORT that arrived from upstream (or the server): passed on to children unchanged. */
export class AbortReceivedError extends KadError {
  /** Creates the error from the received code and message. */
  constructor(code: ErrorCode, message: string, options: KadErrorOptions = {}) {
    super(code, message, options);
    this.name = "AbortReceivedError";
  }
}

/** A wait on a peer passed its deadline. */
export class TimeoutError extends KadError {
  /** Creates a timeout error. */
  constructor(message: string, options: KadErrorOptions = {}) {
    super("TIMEOUT", message, options);
    this.name = "TimeoutError";
  }
}

/** A child process (tar, dd, a command) failed; carries its exit code and the tail of its stderr. */
export class SubprocessError extends KadError {
  /** The exit code, or null when killed by a signal. */
  readonly exitCode: number | null;
  /** The last lines the process wrote on stderr. */
  readonly stderrTail: string;

  /** Creates an error for a failed child process. */
  constructor(
    code: ErrorCode,
    message: string,
    exitCode: number | null,
    stderrTail: string,
    options: KadErrorOptions = {},
  ) {
    super(code, message, options);
    this.name = "SubprocessError";
    this.exitCode = exitCode;
    this.stderrTail = stderrTail;
  }
}

/** A peer failed to prove the join token, or a frame failed its MAC: code `AUTH`. */
export class AuthError extends KadError {
  /** Creates an authentication failure. */
  constructor(message: string, options: KadErrorOptions = {}) {
    super("AUTH", message, options);
    this.name = "AuthError";
  }
}

/** Bad options given to the engine (a missing directory, an invalid address). */
export class ConfigError extends Error {
  /** Creates a configuration error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Converts any thrown value into a one-line message. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const line = error.message.split("\n").find((l) => l.trim() !== "") ?? error.name;
    return line.trim();
  }
  return String(error);
}
