/**
 * The vocabulary of the repair coordinator (repair_coordinator.ts): the events it takes in and the
 * commands it answers with.
 *
 * @module
 */

import type { ErrorCode } from "../errors.ts";
import type { WireError } from "../protocol/messages.ts";
import type { RepairRecord } from "../report/report.ts";

/** What happens to the deployment, as the server sees it. */
export type CoordinatorEvent =
  /** A node is gone: its control connection closed, it fell silent, it could not be reached. */
  | { type: "node-lost"; node: string; reason: WireError }
  /** A node says the link from its upstream broke; it holds `offset` bytes. */
  | { type: "upstream-lost"; node: string; upstream: string; reason: WireError }
  /** `by` (a node or the server) feeds `child` again, from `offset`, resending `resent` bytes. */
  | { type: "adopted"; by: string; child: string; offset: number; resent: number }
  /** `by` could not feed `child` (its bytes are not retained there, or it is unreachable). */
  | { type: "adopt-failed"; by: string; child: string; offset: number | null; reason: WireError }
  /**
   * A node joined after the start: the server feeds it from the stream's first byte — or, when it is
   * a member come back (`rejoin`, restarted after it was lost), from what it still holds.
   */
  | { type: "joined-late"; node: string; rejoin?: boolean }
  /** A node's final report on its stream. */
  | { type: "reported"; node: string; error: WireError | null }
  /**
   * A node holds the chain back (slow_nodes.ts): it leaves its place — its children go to its
   * upstream — and the server feeds it at its own pace from the source read again.
   */
  | { type: "slow"; node: string; reason: WireError }
  /** The stream failed (the source, or an operator's abort): no more repairs. */
  | { type: "stream-failed" }
  /** Time passed: due relinks are made. */
  | { type: "tick" };

/** A child to link to, and the key of that link. */
export interface Adoption {
  /** The child. */
  child: string;
  /** The link's key; null when unauthenticated. */
  key: Uint8Array | null;
  /** The server feeds it from its source read again, never holding its ring: a slow node moved off the chain. */
  fromHistory?: boolean;
}

/** What the server must do. */
export type CoordinatorCommand =
  /** Tell node `to` to stop feeding `node` and to feed each of `adopt` (a DROP frame). */
  | { type: "drop"; to: string; node: string; reason: WireError; adopt: Adoption[] }
  /** Tell `to` that its stream comes from `upstream` now, over a link with `key` (NEW_UPSTREAM). */
  | { type: "new-upstream"; to: string; upstream: string; key: Uint8Array | null }
  /** The server stops feeding `node` itself. */
  | { type: "server-drop"; node: string; reason: WireError }
  /** The server feeds `adopt` itself; when done, the retention held for `released` ends. */
  | { type: "server-adopt"; adopt: Adoption[]; released: string }
  /** Tell `node` its repair failed (an ERROR frame): it fails. */
  | { type: "fail-node"; node: string; code: ErrorCode; message: string }
  /** A node was lost (for the operator). */
  | { type: "lost"; node: string; reason: WireError }
  /** A slow node was moved off the chain, from under `from` to the server (for the operator). */
  | { type: "moved"; node: string; from: string; reason: WireError }
  /** A repair ended, made or failed. */
  | { type: "repaired"; repair: RepairRecord }
  /** A late joiner is fed (from `offset`, `resent` bytes from the server's ring or source), or failed. */
  | { type: "grafted"; node: string; offset: number | null; resent: number; error: WireError | null }
  /** Abort the whole deployment. */
  | { type: "abort"; reason: WireError }
  /** Call back with a tick at this time (ms). */
  | { type: "wake"; at: number };
