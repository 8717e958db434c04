/**
 * The idle watch of a framed connection: a silent peer fails the read (TIMEOUT), never before the
 * timeout (on a quiet machine within 1.5× of it; time this process did not run is not counted, so
 * the bound here is looser); a peer that trickles bytes faster than the timeout is never failed.
 */

import { FrameConn } from "../../lib/net/frame_conn.ts";
import { TimeoutError } from "../../lib/errors.ts";
import { assert, assertRejects } from "../_helpers/assert.ts";

/** A connected pair of loopback TCP sockets. */
async function socketPair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: (listener.addr as Deno.NetAddr).port }),
    listener.accept(),
  ]);
  return [a, b as Deno.TcpConn];
}

Deno.test("frame conn: a peer silent past the idle timeout → TIMEOUT, never before the timeout", async () => {
  const [near, far] = await socketPair();
  const conn = new FrameConn(near, { peer: "quiet", idleTimeoutMs: 800 });
  const started = performance.now();
  await assertRejects(() => conn.readHeader(), TimeoutError, "No data from quiet for 0.8 s");
  const waited = performance.now() - started;
  assert(waited >= 800 && waited < 3000, `timed out after ${waited.toFixed(0)} ms`);
  far.close();
});

Deno.test("frame conn: a peer that sends a byte every 300 ms is never timed out by an 800 ms watch", async () => {
  const [near, far] = await socketPair();
  const conn = new FrameConn(near, { peer: "slow", idleTimeoutMs: 800 });
  const body = new Uint8Array(8);
  const reading = conn.readAtLeast(body, body.length);
  for (let i = 0; i < body.length; i++) {
    await new Promise((r) => setTimeout(r, 300));
    await far.write(new Uint8Array([i]));
  }
  assert(await reading === 8, "all 8 bytes arrived over 2.4 s, three times the timeout");
  conn.close();
  far.close();
});
