/**
 * Data links: the TCP connections that carry the stream from an upstream to a child. The
 * upstream connects to the child's data port and introduces itself (LINK); the child checks that
 * it is its planned upstream in this deployment and answers with the offset it holds (LINK_OK).
 *
 * @module
 */

import { KadError, ProtocolError, TimeoutError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import type { LinkMessage, PeerAddress } from "../protocol/messages.ts";
import { withDeadline } from "../time/deadline.ts";
import type { FanOutput } from "./fan_out.ts";

/** Connects to `address` with a timeout; failures are NNF errors naming the peer. */
export async function connectTo(address: { host: string; port: number }, peer: string, timeoutMs: number) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    return await Deno.connect({ hostname: address.host, port: address.port, signal: abort.signal });
  } catch (error) {
    const reason = abort.signal.aborted ? `no answer within ${timeoutMs / 1000} s` : messageOf(error);
    throw new KadError("NNF", `Cannot connect to ${peer} at ${address.host}:${address.port}: ${reason}`, {
      node: peer,
      cause: error,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** Opens the data link to a child and waits for its LINK_OK. */
export async function connectChild(
  child: PeerAddress,
  link: LinkMessage,
  timeoutMs: number,
): Promise<FrameConn> {
  const conn = new FrameConn(await connectTo(child, child.name, timeoutMs), {
    peer: child.name,
    idleTimeoutMs: timeoutMs,
  });
  try {
    await conn.send(FrameType.LINK, link);
    const ok = await conn.expect(FrameType.LINK_OK);
    if (ok.offset !== 0) {
      throw new ProtocolError(`${child.name} asked to resume at ${ok.offset}; not supported`);
    }
    return conn;
  } catch (error) {
    conn.close();
    if (error instanceof KadError && error.code !== "PROTO") {
      throw new KadError("NNF", `Data link to ${child.name} failed: ${error.message}`, { node: child.name });
    }
    throw error;
  }
}

/**
 * Accepts connections on `listener` until one introduces itself as the planned upstream; others
 * are answered with an error and closed. Returns the link before LINK_OK is sent.
 */
export async function acceptUpstream(
  listener: Deno.Listener,
  expected: LinkMessage,
  timeoutMs: number,
): Promise<FrameConn> {
  const waiting: { found: ((conn: FrameConn | "closed") => void) | null } = { found: null };
  const winner = new Promise<FrameConn | "closed">((resolve) => waiting.found = resolve);
  const strangers = new Set<FrameConn>();
  const accepting = (async () => {
    for (;;) {
      let raw: Deno.Conn;
      try {
        raw = await listener.accept();
      } catch {
        waiting.found?.("closed"); // the node is stopping: stop waiting too
        return;
      }
      const conn = new FrameConn(raw, { peer: "upstream", idleTimeoutMs: Math.min(timeoutMs, 10_000) });
      strangers.add(conn);
      checkLink(conn, expected).then((ok) => {
        strangers.delete(conn);
        if (ok && waiting.found) waiting.found(conn);
        else conn.close();
      });
    }
  })();
  const result = await withDeadline(winner, timeoutMs, () => null);
  waiting.found = null;
  for (const conn of strangers) conn.close();
  if (result === null || result === "closed") {
    if (result === null) listener.close();
    await accepting;
    if (result === "closed") throw new KadError("ABORT", `Stopped waiting for upstream ${expected.from}`);
    throw new TimeoutError(`Upstream ${expected.from} did not connect within ${timeoutMs / 1000} s`);
  }
  result.peer = expected.from;
  return result;
}

async function checkLink(conn: FrameConn, expected: LinkMessage): Promise<boolean> {
  try {
    const link = await conn.expect(FrameType.LINK);
    if (link.deployment !== expected.deployment || link.from !== expected.from || link.to !== expected.to) {
      await conn.send(FrameType.ERROR, {
        code: "REFUSED",
        message:
          `Link refused: expected ${expected.from} for ${expected.to}, got ${link.from} for ${link.to}`,
      });
      return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** A child link as a fan-out output: receives whole frames. */
export function linkOutput(conn: FrameConn): FanOutput {
  return {
    name: conn.peer,
    view: "frame",
    write: (bytes) => conn.writeRaw(bytes),
    abort: () => conn.close(),
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
