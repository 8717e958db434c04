/**
 * How long kad waits on its peers, by default. One definition: the library applies them when an
 * option is left out, and the command line shows and documents them from here.
 *
 * @module
 */

/** Any wait on a peer: the plan, an upstream, a repair (`--timeout`). */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Connecting to a peer and its handshake (`--connect-timeout`). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
