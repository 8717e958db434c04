/**
 * The child links of one fan-out, on a node or on the server: links planned at the start and links
 * adopted during a repair alike. Each link is fed from the offset its child holds and, once it has
 * written the whole stream, gets the final frame (END, or ABORT when the stream failed) — also
 * when it was adopted after the stream ended. What each child acknowledges (ACK: what it and the
 * nodes it feeds hold) goes to the fan-out's retention and to {@link Downstream.childrenHeld}.
 *
 * @module
 */

import { describeError, ProtocolError } from "../errors.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import {
  type AdoptedMessage,
  type EndMessage,
  frameName,
  type PeerAddress,
  type WireError,
} from "../protocol/messages.ts";
import { type ChildLink, connectChild, linkOutput, type LinkSecurity } from "./data_link.ts";
import type { ByteHistory, FanOut, FanOutput } from "./fan_out.ts";
import { withDeadline } from "../time/deadline.ts";

/**
 * How long a link that sent its final frame waits for the child to close it. The child closes on
 * reading that frame, so this bounds only a child hung at that very moment.
 */
const LINGER_MS = 10_000;

/** Options of a {@link Downstream}. */
export interface DownstreamOptions {
  /** The deployment links belong to. */
  deployment: string;
  /** Name of the feeding side: a node's name or "server". */
  self: string;
  /** The limit on connecting and the handshakes, and TLS on `--tls` deployments. */
  security: LinkSecurity;
  /** A child could not be sent its final frame, or broke the protocol on its link. */
  onLinkProblem?: (child: string, error: WireError) => void;
  /** A child acknowledged what it holds (after the fan-out took note). */
  onAck?: () => void;
  /** The fan-out's DATA frames are sealed end to end (they carry their trailer). */
  sealed: boolean;
}

/** The final frame every child gets after the stream. */
export type FinalFrame =
  | { type: typeof FrameType.END; body: EndMessage; offset: number }
  | { type: typeof FrameType.ABORT; body: WireError; offset: 0 };

/** Child links fed by one fan-out. */
export class Downstream {
  readonly #fanOut: FanOut;
  readonly #options: DownstreamOptions;
  readonly #links = new Set<FrameConn>();
  /** Bytes each live child said it holds. */
  readonly #held = new Map<FrameConn, number>();
  readonly #closing = new Set<Promise<void>>();
  #final: FinalFrame | null | undefined = undefined;
  #finalSet!: () => void;
  readonly #finalReady = new Promise<void>((resolve) => this.#finalSet = resolve);

  /** Creates the set of links of `fanOut`. */
  constructor(fanOut: FanOut, options: DownstreamOptions) {
    this.#fanOut = fanOut;
    this.#options = options;
  }

  /** Opens a data link to `child` with the link's `key` (null: unauthenticated); not fed yet. */
  connect(child: PeerAddress, key: Uint8Array | null): Promise<ChildLink> {
    return connectChild(
      child,
      { deployment: this.#options.deployment, from: this.#options.self, to: child.name },
      key,
      this.#options.security,
    );
  }

  /**
   * Feeds an open link from the offset its child holds (from `history` for bytes older than the
   * ring, or for all it lags behind with `preferHistory`: see FanOut.addFrom) and returns the bytes
   * resent, i.e. already streamed past that offset.
   * @throws {import("./fan_out.ts").NotRetainedError} when those bytes are not available.
   */
  attach(link: ChildLink, history?: ByteHistory, preferHistory = false): number {
    const resent = this.#fanOut.producedBytes - link.offset;
    const output = linkOutput(link.conn, this.#options.sealed);
    const done = this.#fanOut.addFrom(output, link.offset, history, preferHistory);
    this.#links.add(link.conn);
    this.#held.set(link.conn, link.offset);
    // the child's acknowledgements; the link is not timed here (the server judges silences)
    link.conn.idleTimeoutMs = 0;
    const reading = this.#readAcks(link.conn, output);
    const closing = this.#closeWhenDone(link.conn, done, reading);
    this.#closing.add(closing);
    closing.finally(() => this.#closing.delete(closing));
    return resent;
  }

  /** Links to `child` and feeds it from what it holds: the repair of a node that lost its upstream. */
  async adopt(
    child: PeerAddress,
    key: Uint8Array | null,
    history?: ByteHistory,
    preferHistory = false,
  ): Promise<AdoptedMessage> {
    const link = await this.connect(child, key);
    try {
      const resent = this.attach(link, history, preferHistory);
      return { child: child.name, offset: link.offset, resent };
    } catch (error) {
      link.conn.close();
      throw error;
    }
  }

  /**
   * The least any live child holds (what this node's own acknowledgement covers besides itself), or
   * null without children.
   */
  get childrenHeld(): number | null {
    let least: number | null = null;
    for (const held of this.#held.values()) least = least === null ? held : Math.min(least, held);
    return least;
  }

  /**
   * Reads a child's ACKs until its link closes (also after the final frame: see {@link
   * FrameConn.closeWrite}); anything else from it is a protocol error.
   */
  async #readAcks(conn: FrameConn, output: FanOutput): Promise<void> {
    try {
      for (;;) {
        const message = await conn.readMessage();
        if (message === null) break;
        if (message.type !== FrameType.ACK) {
          throw new ProtocolError(`Unexpected ${frameName(message.type)} from child ${conn.peer}`);
        }
        if (!this.#held.has(conn)) continue; // the link is done: drained, not counted
        this.#held.set(conn, message.body.held);
        this.#fanOut.acknowledge(output, message.body.need);
        this.#options.onAck?.();
      }
    } catch (error) {
      if (!conn.closed && error instanceof ProtocolError) {
        this.#options.onLinkProblem?.(conn.peer, { code: error.code, message: describeError(error) });
        this.#fanOut.failOutput(conn.peer, error);
      }
    } finally {
      this.#held.delete(conn);
    }
  }

  /**
   * Sends the final frame once the link has written the whole stream, then lets the child close the
   * link first (it does on reading the final frame), within {@link LINGER_MS}.
   */
  async #closeWhenDone(conn: FrameConn, done: Promise<boolean>, reading: Promise<void>): Promise<void> {
    const complete = await done;
    this.#held.delete(conn);
    await this.#finalReady;
    const final = this.#final;
    if (complete && final && !conn.closed) {
      try {
        await conn.send(final.type, final.body, final.offset);
        await conn.closeWrite();
        await withDeadline(reading, LINGER_MS, () => undefined);
      } catch (error) {
        this.#options.onLinkProblem?.(conn.peer, { code: "NWF", message: describeError(error) });
      }
    }
    conn.close();
    this.#links.delete(conn);
  }

  /**
   * Sends `final` to every child once it has written the whole stream (children adopted later get
   * it too) and waits until every link is closed. Call after the fan-out's `finish`.
   */
  async end(final: FinalFrame): Promise<void> {
    if (this.#final === undefined) this.#final = final;
    this.#finalSet();
    await this.settled();
  }

  /** Waits until every link, adopted ones included, got its final frame and was closed. */
  async settled(): Promise<void> {
    while (this.#closing.size > 0) await Promise.all(this.#closing);
  }

  /** Closes every link without a final frame. */
  closeAll(): void {
    if (this.#final === undefined) this.#final = null;
    this.#finalSet();
    for (const conn of this.#links) conn.close();
  }
}
