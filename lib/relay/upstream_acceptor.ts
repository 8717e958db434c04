/**
 * The child's side of data links, for a node's whole run: accepts connections on its data port,
 * checks each LINK (this deployment, this node, the upstream the server named) and hands links from
 * that upstream over in arrival order. The server may name a new upstream during a repair
 * ({@link UpstreamAcceptor.expect}); a link that arrives before that word is parked a moment
 * instead of refused. Anything else is answered with ERROR REFUSED and closed.
 *
 * On an authenticated deployment a link is handed over only once its upstream proved the link
 * key the server gave this node for it; from then on every frame on it carries a MAC. A connection
 * gets `handshakeTimeoutMs` in all to introduce itself, and at most {@link MAX_PENDING_LINKS}
 * connections wait unproven at a time (the oldest is dropped), so idle or trickling connections
 * cannot keep the real upstream out.
 *
 * @module
 */

import { KadError, TimeoutError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import type { LinkMessage } from "../protocol/messages.ts";
import { linkProof, linkSession } from "../security/handshake.ts";
import { proofMatches, randomNonce } from "../security/key_derivation.ts";

/** Connections that may wait unproven (vetting or parked) at once; more drop the oldest. */
export const MAX_PENDING_LINKS = 64;

/** Options of an {@link UpstreamAcceptor}. */
export interface UpstreamAcceptorOptions {
  /** The deployment a link must belong to. */
  deployment: string;
  /** This node's name: a link must be addressed to it. */
  self: string;
  /** The planned upstream. */
  upstream: string;
  /** Key of the link from the planned upstream; null on an unauthenticated (`--insecure`) deployment. */
  upstreamKey: Uint8Array | null;
  /** How long a connection may take to introduce itself. */
  handshakeTimeoutMs: number;
  /** How long a link from a not (yet) named upstream waits for the server's word. */
  parkMs: number;
  /** Called when a link from the named upstream arrives (the one in use, if any, is stale). */
  onLink?: (conn: FrameConn) => void;
}

/** A link that introduced itself: its LINK and, when authenticated, the nonces and its proof. */
interface Candidate {
  conn: FrameConn;
  link: LinkMessage;
  childNonce: string;
  proof: string;
}

interface Parked {
  candidate: Candidate;
  timer: ReturnType<typeof setTimeout>;
}

/** Accepts and vets data links for one node. */
export class UpstreamAcceptor {
  readonly #listener: Deno.Listener;
  readonly #options: UpstreamAcceptorOptions;
  #expected: string;
  #expectedKey: Uint8Array | null;
  readonly #authenticated: boolean;
  #ready: FrameConn | null = null;
  #waiter: (() => void) | null = null;
  readonly #parked = new Set<Parked>();
  readonly #vetting = new Set<FrameConn>();
  #closed = false;
  readonly #loop: Promise<void>;

  /** Starts accepting on `listener`. */
  constructor(listener: Deno.Listener, options: UpstreamAcceptorOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#expected = options.upstream;
    this.#expectedKey = options.upstreamKey;
    this.#authenticated = options.upstreamKey !== null;
    this.#loop = this.#accept();
  }

  /** The upstream links are accepted from. */
  get expected(): string {
    return this.#expected;
  }

  /**
   * From now on, accept links from `upstream` only, proven with `key` (the server re-planned
   * around a failure).
   */
  expect(upstream: string, key: Uint8Array | null): void {
    this.#expected = upstream;
    this.#expectedKey = key;
    if (this.#ready !== null && this.#ready.peer !== upstream) {
      this.#ready.close();
      this.#ready = null;
    }
    for (const parked of this.#parked) {
      if (parked.candidate.link.from !== upstream) continue;
      this.#parked.delete(parked);
      clearTimeout(parked.timer);
      if (this.#admit(parked.candidate)) continue;
      void this.#refuse(parked.candidate.conn, `Link refused: ${upstream} did not prove the link key`);
    }
  }

  /**
   * The next link from the named upstream, before any LINK_OK was sent on it.
   * @throws {TimeoutError} when none arrives within `timeoutMs`; a {@link KadError} ABORT once closed.
   */
  async take(timeoutMs: number): Promise<FrameConn> {
    const deadline = performance.now() + timeoutMs;
    while (this.#ready === null) {
      if (this.#closed) throw new KadError("ABORT", `Stopped waiting for upstream ${this.#expected}`);
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TimeoutError(`Upstream ${this.#expected} did not connect within ${timeoutMs / 1000} s`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
    const conn = this.#ready;
    this.#ready = null;
    return conn;
  }

  /** Stops accepting; closes the listener and every link not taken. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    this.#ready?.close();
    this.#ready = null;
    for (const conn of this.#vetting) conn.close();
    for (const parked of this.#parked) {
      clearTimeout(parked.timer);
      parked.candidate.conn.close();
    }
    this.#parked.clear();
    this.#wake();
    await this.#loop;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  #offer(conn: FrameConn): void {
    this.#ready?.close(); // the newest link from the upstream wins
    this.#ready = conn;
    this.#options.onLink?.(conn);
    this.#wake();
  }

  async #accept(): Promise<void> {
    for (;;) {
      let raw: Deno.Conn;
      try {
        raw = await this.#listener.accept();
      } catch {
        this.#closed = true;
        this.#wake();
        return;
      }
      const conn = new FrameConn(raw, { peer: "upstream", idleTimeoutMs: this.#options.handshakeTimeoutMs });
      this.#limitPending();
      this.#vetting.add(conn);
      // the whole introduction has a deadline: a peer trickling a byte at a time gets no longer
      const deadline = setTimeout(() => conn.close(), this.#options.handshakeTimeoutMs);
      this.#vet(conn).finally(() => {
        clearTimeout(deadline);
        this.#vetting.delete(conn);
      });
    }
  }

  /** Makes room for one more unproven connection by dropping the oldest. */
  #limitPending(): void {
    if (this.#vetting.size + this.#parked.size < MAX_PENDING_LINKS) return;
    const oldest = this.#vetting.values().next().value;
    if (oldest !== undefined) {
      this.#vetting.delete(oldest);
      return oldest.close();
    }
    const parked = this.#parked.values().next().value!;
    this.#parked.delete(parked);
    clearTimeout(parked.timer);
    parked.candidate.conn.close();
  }

  async #vet(conn: FrameConn): Promise<void> {
    let candidate: Candidate;
    try {
      const link = await conn.expect(FrameType.LINK);
      if (link.deployment !== this.#options.deployment || link.to !== this.#options.self) {
        return await this.#refuse(conn, `Link refused: not for ${this.#options.self} in this deployment`);
      }
      if (this.#authenticated !== (link.nonce !== "")) {
        return await this.#refuse(
          conn,
          this.#authenticated
            ? "Link refused: this deployment is authenticated and the link was not"
            : "Link refused: this deployment runs --insecure",
        );
      }
      candidate = { conn, link, childNonce: "", proof: "" };
      if (this.#authenticated) {
        candidate.childNonce = randomNonce();
        await conn.send(FrameType.LINK_CHALLENGE, { nonce: candidate.childNonce });
        candidate.proof = (await conn.expect(FrameType.LINK_AUTH)).proof;
      }
    } catch {
      conn.close();
      return;
    }
    if (this.#closed || conn.closed) return conn.close();
    const link = candidate.link;
    conn.peer = link.from;
    if (link.from === this.#expected && this.#admit(candidate)) return;
    // not (yet) the named upstream, or proven with a key the server is about to replace
    const parked: Parked = {
      candidate,
      timer: setTimeout(() => {
        this.#parked.delete(parked);
        this.#refuse(
          conn,
          link.from === this.#expected
            ? `Link refused: ${link.from} did not prove the link key`
            : `Link refused: expected ${this.#expected} for ${link.to}, got ${link.from}`,
        );
      }, this.#options.parkMs),
    };
    this.#parked.add(parked);
  }

  /** Hands over a link from the expected upstream if it proved the current link key. */
  #admit(candidate: Candidate): boolean {
    const { conn, link, childNonce, proof } = candidate;
    const key = this.#expectedKey;
    if (key !== null) {
      // the decoder checked the nonce's shape, and #vet that it is not empty
      if (!proofMatches(proof, linkProof(key, link, link.nonce, childNonce))) {
        return false;
      }
      conn.auth = linkSession(key, link, "child", link.nonce, childNonce);
    }
    this.#offer(conn);
    return true;
  }

  async #refuse(conn: FrameConn, message: string): Promise<void> {
    await conn.send(FrameType.ERROR, { code: "REFUSED", message }).catch(() => {});
    conn.close();
  }
}
