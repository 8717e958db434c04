/**
 * A node's introduction to the server: connect (waiting for a server that is not up yet), HELLO
 * (with the sink the node writes to: the server refuses a node whose sink does not fit the stream),
 * the token handshake, the TLS data certificate, ACCEPT.
 *
 * Nodes are started in any order: one that finds no server retries with backoff (`waitServerMs`,
 * forever by default) and says so every {@link WAITING_NOTICE_MS}. Each attempt's handshake has
 * one deadline (`connectTimeoutMs`), so a port that answers but is not kad is named so at once.
 *
 * @module
 */

import { KadError, NotKadError, ProtocolError, TimeoutError, UnreachableError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { listenOn } from "../net/listen.ts";
import type { TlsIdentity } from "../net/tls.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import {
  type AcceptMessage,
  POST_INSTALL_FEATURE,
  RAW_FEATURE,
  RENAME_FEATURE,
  ZSTD_FEATURE,
} from "../protocol/messages.ts";
import { connectTo } from "../relay/data_link.ts";
import { proveToServer } from "../security/control_handshake.ts";
import { tokenKey } from "../security/join_token.ts";
import { randomNonce } from "../security/key_derivation.ts";
import type { JoinEvent, ResolvedJoinOptions } from "./join.ts";
import { canDecompress } from "../compression/zstd.ts";
import { logger } from "../log.ts";

const log = logger("node");

/** How often a node waiting for its server says so. */
export const WAITING_NOTICE_MS = 10_000;
/** First and longest pause between two attempts to reach the server. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 2000;

/** A node the server accepted. */
export interface Introduced {
  /** The authenticated control connection. */
  control: FrameConn;
  /** Opens the link keys the server sends; null on an `--insecure` deployment. */
  sealKey: Uint8Array | null;
  /** The data listener (opened once the server handed its certificate, on `--tls`). */
  listener: Deno.Listener;
  /** The server's ACCEPT: deployment, the node's name in it, the stream. */
  accepted: AcceptMessage;
}

/**
 * Introduces the node, waiting for the server as long as `options.waitServerMs` allows. `listener`
 * is the data listener already open (plain TCP), or null on `--tls`.
 * @throws {KadError} REFUSED, AUTH, PROTO… as the server or the handshake says; NNF once the wait
 * for the server is over.
 */
export async function introduce(
  options: ResolvedJoinOptions,
  listener: Deno.Listener | null,
): Promise<Introduced> {
  const server = `${options.server.host}:${options.server.port}`;
  const waitMs = options.waitServerMs ?? Infinity;
  const startedAt = performance.now();
  let noticeAt = 0;
  let pause = RETRY_FIRST_MS;
  for (;;) {
    try {
      return await attempt(options, listener);
    } catch (error) {
      const waited = performance.now() - startedAt;
      log.debug("Introduction to {server} failed: {error}", { server, error: String(error) });
      if (!(error instanceof ServerNotReadyError) || options.signal?.aborted || waited >= waitMs) {
        if (!(error instanceof ServerNotReadyError)) throw error;
        const cause = error.cause as KadError;
        if (waitMs === 0 || options.signal?.aborted) throw cause;
        throw new KadError(
          cause.code,
          `${cause.message}; gave up after ${Math.round(waited / 1000)} s (--wait-server)`,
        );
      }
      if (noticeAt === 0 || performance.now() >= noticeAt) {
        options.onEvent?.({
          type: "waiting",
          server,
          seconds: Math.round(waited / 1000),
          reason: (error.cause as Error).message,
        });
        noticeAt = performance.now() + WAITING_NOTICE_MS;
      }
      await sleep(Math.min(pause * (0.75 + Math.random() / 2), waitMs - waited), options.signal);
      pause = Math.min(pause * 2, RETRY_MAX_MS);
    }
  }
}

/** The server is not there yet (nothing listens, it closed before answering): worth another try. */
class ServerNotReadyError extends Error {
  constructor(cause: KadError) {
    super(cause.message, { cause });
  }
}

async function attempt(
  options: ResolvedJoinOptions,
  openListener: Deno.Listener | null,
): Promise<Introduced> {
  const serverName = `server ${options.server.host}:${options.server.port}`;
  const at = `${options.server.host}:${options.server.port}`;
  const limitMs = options.connectTimeoutMs;
  const tls = options.tls ?? null;
  let raw: Deno.Conn;
  try {
    raw = await connectTo(
      options.server,
      serverName,
      limitMs,
      tls && { ca: tls.ca, hostname: options.server.host },
    );
  } catch (error) {
    if (error instanceof UnreachableError) throw new ServerNotReadyError(error);
    throw error;
  }
  const control = new FrameConn(raw, { peer: serverName, idleTimeoutMs: 0 });
  let listener = openListener;
  let late = false;
  const deadline = setTimeout(() => {
    late = true;
    control.close();
  }, limitMs);
  try {
    const nonce = options.token === null ? "" : randomNonce();
    await control.send(FrameType.HELLO, {
      version: PROTOCOL_VERSION,
      name: options.name,
      dataHost: options.advertise ?? "",
      dataPort: listener === null ? 0 : advertisedPort(options, listener),
      sink: options.sink.kind,
      features: [
        ...options.postInstall ? [POST_INSTALL_FEATURE] : [],
        ...options.renameIfTaken ? [RENAME_FEATURE] : [],
        ...options.raw ? [RAW_FEATURE] : [],
        ...canDecompress() ? [ZSTD_FEATURE] : [],
      ],
      nonce,
      phases: [...options.phases ?? []],
      labels: { ...options.labels },
      resume: options.resume,
    });
    const sealKey = options.token === null
      ? null
      : (await proveToServer(control, tokenKey(options.token), options.name, nonce)).sealKey;
    if (listener === null) {
      listener = openDataListener(options, await control.expect(FrameType.TLS_LINK_CERT));
      await control.send(FrameType.DATA_PORT, { port: advertisedPort(options, listener) });
    }
    const accepted = await control.expect(FrameType.ACCEPT);
    clearTimeout(deadline);
    control.idleTimeoutMs = options.timeoutMs;
    return { control, sealKey, listener, accepted };
  } catch (error) {
    clearTimeout(deadline);
    control.close();
    if (listener !== openListener) listener?.close();
    throw introductionError(error, at, limitMs, late);
  }
}

/** What a failed attempt means: a server not up yet (retry), not kad, or the server's own word. */
function introductionError(
  error: unknown,
  at: string,
  limitMs: number,
  late: boolean,
): unknown {
  if (error instanceof NotKadError) {
    const sent = error.receivedText;
    return new ProtocolError(
      `${at} answered but is not a kad server${sent ? ` (it sent "${sent}")` : ""}`,
      { cause: error },
    );
  }
  if (late) {
    return new TimeoutError(
      `${at} answered but is not a kad server: no kad handshake within ${
        limitMs / 1000
      } s (--connect-timeout)`,
    );
  }
  // a server that closed the connection in the middle (busy with a flood of connections, restarting)
  if (error instanceof KadError && error.code === "NRF") return new ServerNotReadyError(error);
  if (
    error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted
  ) {
    return new ServerNotReadyError(new KadError("NRF", `${at} closed the connection: ${error.message}`));
  }
  return error;
}

/** Opens the node's data listener (over TLS presenting `tls` when given) and says where. */
export function openDataListener(options: ResolvedJoinOptions, tls: TlsIdentity | null): Deno.Listener {
  const listener = listenOn(options.listen, "data", tls);
  options.onEvent?.({ type: "listening", port: (listener.addr as Deno.NetAddr).port } satisfies JoinEvent);
  return listener;
}

function advertisedPort(options: ResolvedJoinOptions, listener: Deno.Listener): number {
  return options.advertisePort || (listener.addr as Deno.NetAddr).port;
}

/** Waits `ms`, or less when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}
