/**
 * A TCP connection that speaks kad frames: header-then-payload reads with size limits and an
 * idle timeout, serialized JSON writes, and raw writes for the data path.
 *
 * @module
 */

import { AuthError, KadError, ProtocolError, TimeoutError } from "../errors.ts";
import type { FrameAuth } from "../security/frame_mac.ts";
import {
  decodeHeader,
  DEFAULT_LIMITS,
  encodeJsonFrame,
  FLAG_MAC,
  FRAME_HEADER_BYTES,
  type FrameHeader,
  type FrameLimits,
  FrameType,
  type FrameTypeValue,
  looksLikeTls,
  MAC_TRAILER_BYTES,
  tlsPeerError,
} from "../protocol/frame.ts";
import { decodeMessage, frameName, type Message } from "../protocol/messages.ts";

/** Options of a {@link FrameConn}. */
export interface FrameConnOptions {
  /** Name of the peer, for error messages. */
  peer: string;
  /** A read that waits longer than this fails with a {@link TimeoutError}; 0 disables. */
  idleTimeoutMs: number;
  /** Frame size limits. */
  limits?: FrameLimits;
}

/** The minimal byte-stream surface a {@link FrameConn} needs (a Deno.Conn satisfies it). */
export interface ByteConn {
  /** Reads into `p`, resolving to the count or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some bytes of `p`, resolving to the count written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the sending half (TCP FIN): the peer reads the end while this side still reads. */
  closeWrite?(): Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** Writes every byte of `bytes` to `conn`. */
export async function writeAll(conn: Pick<ByteConn, "write">, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    done += await conn.write(done === 0 ? bytes : bytes.subarray(done));
  }
}

/** The body type of the control message of frame type `T`. */
export type MessageBody<T extends FrameTypeValue> = Extract<Message, { type: T }>["body"];

/**
 * A framed connection. Once {@link auth} is set (after a handshake), every frame sent carries a
 * MAC and every frame received must carry a valid one.
 */
export class FrameConn {
  /** The underlying connection. */
  readonly conn: ByteConn;
  /** The peer's name, for messages. */
  peer: string;
  /** The connection's frame keys; null while unauthenticated (handshake, `--insecure`). */
  auth: FrameAuth | null = null;
  readonly #header = new Uint8Array(FRAME_HEADER_BYTES);
  readonly #tag = new Uint8Array(MAC_TRAILER_BYTES);
  readonly #limits: FrameLimits;
  #idleTimeoutMs = 0;
  /** A read is waiting for the peer. */
  #reading = false;
  /** Reads completed so far: the watch sees progress without a clock read per read. */
  #reads = 0;
  /** {@link #reads} at the watch's last tick. */
  #readsSeen = 0;
  /** Silence counted so far by the watch, in milliseconds of this process running. */
  #silentMs = 0;
  #watchEveryMs = 0;
  #lastWatch = 0;
  #timedOut = false;
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #writeChain: Promise<void> = Promise.resolve();
  /** Where {@link writeFrame} puts a frame and its tag together (grown to the largest frame). */
  #scratch = new Uint8Array(0);

  /** Wraps `conn`. */
  constructor(conn: ByteConn, options: FrameConnOptions) {
    this.conn = conn;
    this.peer = options.peer;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  /** The idle read timeout in milliseconds; 0 disables it. */
  get idleTimeoutMs(): number {
    return this.#idleTimeoutMs;
  }

  /**
   * Arms (or disarms, with 0) the idle timeout. The silence is counted from now: a read that has
   * been waiting since before — a node idle until the start — is not failed for that wait.
   */
  set idleTimeoutMs(ms: number) {
    this.#idleTimeoutMs = ms;
    this.#silentMs = 0;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (ms > 0 && !this.#closed) {
      this.#watchEveryMs = Math.max(50, Math.min(1000, ms / 4));
      this.#lastWatch = performance.now();
      this.#timer = setInterval(() => this.#watch(), this.#watchEveryMs);
      Deno.unrefTimer(this.#timer);
    }
  }

  /** The bytes of the frame header {@link readHeader} read last (overwritten by the next read). */
  get lastHeader(): Uint8Array {
    return this.#header;
  }

  /** True once {@link close} was called or the idle timeout fired. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The idle check, every quarter of the timeout (50 ms–1 s). Silence is counted from the first
   * tick that finds a read waiting with none completed since the tick before, and only while this
   * process was running: a tick that comes late (a CPU-starved machine, a paused process) counts
   * one interval, not the delay, which is not the peer's. So the timeout fires between one and
   * one and a half times its value after the peer fell silent, never early.
   */
  #watch(): void {
    const now = performance.now();
    const elapsed = now - this.#lastWatch;
    this.#lastWatch = now;
    if (!this.#reading || this.#reads !== this.#readsSeen) {
      this.#readsSeen = this.#reads;
      this.#silentMs = 0;
      return;
    }
    this.#silentMs += Math.min(elapsed, this.#watchEveryMs);
    if (this.#silentMs > this.#idleTimeoutMs) {
      this.#timedOut = true;
      this.close();
    }
  }

  /** Reads exactly `target.length` bytes; returns false on a clean end of stream before the first byte. */
  async readExactly(target: Uint8Array, eofAllowed: boolean): Promise<boolean> {
    return await this.#fill(target, target.length, eofAllowed) > 0;
  }

  /**
   * Reads at least `min` bytes (and at most `target.length`) into `target`, returning the count:
   * lets a relay forward what has arrived instead of waiting for a whole frame at every hop.
   */
  readAtLeast(target: Uint8Array, min: number): Promise<number> {
    return this.#fill(target, min, false);
  }

  /** Reads until `min` bytes arrived; 0 only for a clean end of stream before any byte when allowed. */
  async #fill(target: Uint8Array, min: number, eofAllowed: boolean): Promise<number> {
    let got = 0;
    while (got < min) {
      let n: number | null;
      this.#reading = true;
      try {
        n = await this.conn.read(got === 0 ? target : target.subarray(got));
      } catch (error) {
        throw this.#readError(error);
      } finally {
        this.#reading = false;
        this.#reads++;
      }
      if (n === null) {
        if (this.#timedOut) throw this.#timeout();
        if (got === 0 && eofAllowed) return 0;
        // a frame start cut short: a TLS peer's alert is shorter than a frame header
        if (eofAllowed && looksLikeTls(target.subarray(0, got))) throw tlsPeerError();
        throw new KadError("NRF", `Connection to ${this.peer} closed in the middle of a frame`);
      }
      got += n;
    }
    return got;
  }

  /**
   * Reads the next frame header, or null at a clean end of stream. On an authenticated
   * connection the frame must be flagged as carrying a MAC (and must not be otherwise).
   */
  async readHeader(): Promise<FrameHeader | null> {
    if (await this.#fill(this.#header, FRAME_HEADER_BYTES, true) === 0) return null;
    const header = decodeHeader(this.#header, this.#limits);
    if ((header.flags & FLAG_MAC) === 0 && this.auth !== null) {
      throw new AuthError(`Unauthenticated frame from ${this.peer} on an authenticated connection`, {
        node: this.peer,
      });
    }
    if ((header.flags & FLAG_MAC) !== 0 && this.auth === null) {
      throw new ProtocolError(`Frame with a MAC from ${this.peer} before any handshake`);
    }
    return header;
  }

  /**
   * Reads the whole payload of the frame whose header was just read into `target` and checks its
   * MAC: nothing unauthenticated reaches the caller. Call only on an authenticated connection.
   * @throws {AuthError} when the MAC does not verify.
   */
  async readVerified(target: Uint8Array): Promise<void> {
    await this.readExactly(target, false);
    await this.readExactly(this.#tag, false);
    if (!this.auth!.verify(this.#header, target, this.#tag)) {
      throw new AuthError(
        `Frame from ${this.peer} failed authentication: altered, injected or replayed on the wire`,
        { node: this.peer },
      );
    }
  }

  /** Reads the next control message, or null at a clean end of stream. Rejects DATA frames. */
  async readMessage(): Promise<Message | null> {
    const header = await this.readHeader();
    if (header === null) return null;
    return await this.readMessageBody(header);
  }

  /** Reads and decodes the payload of a control frame whose header was already read. */
  async readMessageBody(header: FrameHeader): Promise<Message> {
    if (header.type === FrameType.DATA) {
      throw new ProtocolError(`Unexpected DATA frame from ${this.peer} on a control connection`);
    }
    const payload = new Uint8Array(header.length);
    if (this.auth !== null) await this.readVerified(payload);
    else await this.readExactly(payload, false);
    return decodeMessage(header.type, payload);
  }

  /** Reads the next message and checks its type; end of stream is an error. */
  async expect<T extends FrameTypeValue>(type: T): Promise<MessageBody<T>> {
    const message = await this.readMessage();
    if (message === null) {
      throw new KadError("NRF", `${this.peer} closed the connection while kad waited for ${frameName(type)}`);
    }
    if (message.type === FrameType.ERROR || message.type === FrameType.ABORT) {
      throw new KadError(message.body.code, message.body.message, { node: message.body.node });
    }
    if (message.type !== type) {
      throw new ProtocolError(
        `Expected ${frameName(type)} from ${this.peer}, got ${frameName(message.type)}`,
      );
    }
    return message.body as MessageBody<T>;
  }

  /** Sends a JSON control frame (with its MAC once authenticated); concurrent sends are serialized. */
  send(type: FrameTypeValue, body: unknown, offset = 0): Promise<void> {
    const next = this.#writeChain.then(() => {
      // the frame is built (and signed) in its turn: MACs count frames in wire order
      const frame = encodeJsonFrame(type, body, offset, this.auth ? FLAG_MAC : 0);
      return this.writeFrame(frame);
    });
    this.#writeChain = next.catch(() => {});
    return next;
  }

  /**
   * Writes one whole frame now, header and payload, followed by its MAC on an authenticated
   * connection (whose header must then carry {@link FLAG_MAC}), in one write: a frame and its tag
   * written apart would wait for the peer's delayed ACK (Nagle's algorithm), ~40 ms per small
   * control message. The data path; callers keep writes ordered themselves.
   */
  async writeFrame(frame: Uint8Array): Promise<void> {
    if (this.auth === null) return await writeAll(this.conn, frame);
    const tag = this.auth.sign(frame.subarray(0, FRAME_HEADER_BYTES), frame.subarray(FRAME_HEADER_BYTES));
    const whole = frame.length + tag.length;
    if (this.#scratch.length < whole) this.#scratch = new Uint8Array(whole);
    this.#scratch.set(frame);
    this.#scratch.set(tag, frame.length);
    await writeAll(this.conn, this.#scratch.subarray(0, whole));
  }

  /**
   * Ends this side's writing once the frames sent so far are written (TCP FIN) and keeps the
   * connection open for reading: closing a socket that still has unread bytes from its peer resets
   * it, and a reset discards what the peer has not read yet — the end of the stream.
   */
  async closeWrite(): Promise<void> {
    await this.#writeChain;
    if (this.#closed) return;
    try {
      await this.conn.closeWrite?.();
    } catch {
      // the peer is gone already
    }
  }

  /**
   * Writes a frame that carries its own trailer — a DATA frame sealed end to end by the stream's
   * source (security/stream_seal.ts) — as it is, without a link MAC.
   */
  writeSealed(frame: Uint8Array): Promise<void> {
    return writeAll(this.conn, frame);
  }

  /** Closes the connection; safe to call twice. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
  }

  #timeout(): TimeoutError {
    return new TimeoutError(`No data from ${this.peer} for ${this.#idleTimeoutMs / 1000} s`, {
      node: this.peer,
    });
  }

  #readError(error: unknown): Error {
    if (this.#timedOut) return this.#timeout();
    if (error instanceof KadError) return error;
    const reason = error instanceof Error ? error.message : String(error);
    return new KadError("NRF", `Reading from ${this.peer} failed: ${reason}`, { cause: error });
  }
}
