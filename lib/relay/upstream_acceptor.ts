/**
 * The child's side of data links, for a node's whole run: accepts connections on its data port,
 * checks each LINK (this deployment, this node, the upstream the server named) and hands links from
 * that upstream over in arrival order. The server may name a new upstream during a repair
 * ({@link UpstreamAcceptor.expect}); a link that arrives before that word is parked a moment
 * instead of refused. Anything else is answered with ERROR REFUSED and closed.
 *
 * @module
 */

import { KadError, TimeoutError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import type { LinkMessage } from "../protocol/messages.ts";

/** Options of an {@link UpstreamAcceptor}. */
export interface UpstreamAcceptorOptions {
  /** The deployment a link must belong to. */
  deployment: string;
  /** This node's name: a link must be addressed to it. */
  self: string;
  /** The planned upstream. */
  upstream: string;
  /** How long a connection may take to introduce itself. */
  handshakeTimeoutMs: number;
  /** How long a link from a not (yet) named upstream waits for the server's word. */
  parkMs: number;
  /** Called when a link from the named upstream arrives (the one in use, if any, is stale). */
  onLink?: (conn: FrameConn) => void;
}

interface Parked {
  conn: FrameConn;
  from: string;
  timer: ReturnType<typeof setTimeout>;
}

/** Accepts and vets data links for one node. */
export class UpstreamAcceptor {
  readonly #listener: Deno.Listener;
  readonly #options: UpstreamAcceptorOptions;
  #expected: string;
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
    this.#loop = this.#accept();
  }

  /** The upstream links are accepted from. */
  get expected(): string {
    return this.#expected;
  }

  /** From now on, accept links from `upstream` only (the server re-planned around a failure). */
  expect(upstream: string): void {
    this.#expected = upstream;
    if (this.#ready !== null && this.#ready.peer !== upstream) {
      this.#ready.close();
      this.#ready = null;
    }
    for (const parked of this.#parked) {
      if (parked.from !== upstream) continue;
      this.#parked.delete(parked);
      clearTimeout(parked.timer);
      this.#offer(parked.conn);
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
      parked.conn.close();
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
      this.#vetting.add(conn);
      this.#vet(conn).finally(() => this.#vetting.delete(conn));
    }
  }

  async #vet(conn: FrameConn): Promise<void> {
    let link: LinkMessage;
    try {
      link = await conn.expect(FrameType.LINK);
    } catch {
      conn.close();
      return;
    }
    if (this.#closed) return conn.close();
    if (link.deployment !== this.#options.deployment || link.to !== this.#options.self) {
      return await this.#refuse(conn, `Link refused: not for ${this.#options.self} in this deployment`);
    }
    conn.peer = link.from;
    if (link.from === this.#expected) return this.#offer(conn);
    const parked: Parked = {
      conn,
      from: link.from,
      timer: setTimeout(() => {
        this.#parked.delete(parked);
        this.#refuse(conn, `Link refused: expected ${this.#expected} for ${link.to}, got ${link.from}`);
      }, this.#options.parkMs),
    };
    this.#parked.add(parked);
  }

  async #refuse(conn: FrameConn, message: string): Promise<void> {
    await conn.send(FrameType.ERROR, { code: "REFUSED", message }).catch(() => {});
    conn.close();
  }
}
