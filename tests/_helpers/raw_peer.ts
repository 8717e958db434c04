/**
 * Talking to kad ports by hand: read one frame off a raw connection, a TCP proxy that records
 * (and counts) what passes each way, and recognisable payloads to look for in what it recorded.
 */

import { writeAll } from "../../lib/net/frame_conn.ts";
import { decodeHeader, FRAME_HEADER_BYTES } from "../../lib/protocol/frame.ts";
import { decodeMessage, type Message } from "../../lib/protocol/messages.ts";

/** Reads exactly `target.length` bytes; false at end of stream. */
export async function readFull(conn: Deno.Conn, target: Uint8Array): Promise<boolean> {
  let got = 0;
  while (got < target.length) {
    const n = await conn.read(target.subarray(got));
    if (n === null) return false;
    got += n;
  }
  return true;
}

/** Reads one unauthenticated control frame; null when the peer closed. */
export async function readFrame(conn: Deno.Conn): Promise<Message | null> {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  if (!await readFull(conn, header)) return null;
  const h = decodeHeader(header);
  const payload = new Uint8Array(h.length);
  if (!await readFull(conn, payload)) return null;
  return decodeMessage(h.type, payload);
}

/** A payload no handshake or control message could contain by chance. */
export function markedPayload(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + (i >> 11)) & 0xff;
  return bytes;
}

/** True when `needle` occurs in `haystack`. */
export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  for (let at = haystack.indexOf(needle[0]); at >= 0; at = haystack.indexOf(needle[0], at + 1)) {
    if (at + needle.length > haystack.length) return false;
    let i = 1;
    while (i < needle.length && haystack[at + i] === needle[i]) i++;
    if (i === needle.length) return true;
  }
  return false;
}

/** `chunks` joined into one array. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A loopback port that was free a moment ago (for a node that must listen where a proxy points). */
export function freeLoopbackPort(): number {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  return port;
}

/**
 * A TCP proxy on a free loopback port for one connection to `target`: accepts it, connects to
 * `target` and lets the subclass relay between the two; disposing stops listening and waits.
 */
export abstract class OneConnectionProxy implements AsyncDisposable {
  readonly listener: Deno.Listener;
  readonly #done: Promise<void>;

  constructor(readonly target: { host: string; port: number }) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#done = this.#serve();
  }

  get port(): number {
    return (this.listener.addr as Deno.NetAddr).port;
  }

  /** Moves bytes between the accepted connection and the one to `target` until both ends are done. */
  protected abstract relay(inbound: Deno.Conn, outbound: Deno.Conn): Promise<void>;

  async #serve(): Promise<void> {
    let inbound: Deno.Conn;
    try {
      inbound = await this.listener.accept();
    } catch {
      return;
    }
    const outbound = await Deno.connect({ hostname: this.target.host, port: this.target.port });
    await this.relay(inbound, outbound);
    for (const conn of [inbound, outbound]) {
      try {
        conn.close();
      } catch {
        // closed by the relay
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.listener.close();
    } catch {
      // closed
    }
    await this.#done;
  }
}

/** A proxy for one connection to `target` that keeps every byte it forwards, per direction. */
export class RecordingProxy extends OneConnectionProxy {
  /** Bytes from the connecting side to `target`, in order. */
  readonly forward: Uint8Array[] = [];
  /** Bytes from `target` back. */
  readonly backward: Uint8Array[] = [];

  /** Bytes that went one way. */
  static total(chunks: Uint8Array[]): number {
    return chunks.reduce((sum, c) => sum + c.length, 0);
  }

  protected override async relay(inbound: Deno.Conn, outbound: Deno.Conn): Promise<void> {
    await Promise.all([copy(inbound, outbound, this.forward), copy(outbound, inbound, this.backward)]);
  }
}

async function copy(from: Deno.Conn, to: Deno.Conn, record: Uint8Array[]): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) break;
      record.push(buffer.slice(0, n));
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch {
    // either side closed
  }
  await to.closeWrite().catch(() => {});
}
