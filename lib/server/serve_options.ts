/**
 * What a server (serve.ts) is told: the source, the security, the start trigger, the topology, the
 * timeouts and what it may do when nodes fail or come late.
 *
 * @module
 */

import type { Compression } from "../compression/zstd.ts";
import type { HashAlgorithm } from "../integrity/stream_hash.ts";
import type { ServerTls } from "../net/tls.ts";
import type { RingGeometry } from "../relay/fan_out.ts";
import type { SourceSpec } from "../source/source.ts";
import type { PlanOrder } from "../topology/planner.ts";
import type { ServeEvent } from "./serve_events.ts";
import type { StartTrigger } from "./start_trigger.ts";

/** Options of a Server (serve.ts). */
export interface ServeOptions extends RingGeometry {
  /** What to stream. */
  source: SourceSpec;
  /** The join token nodes must prove; null runs without authentication (`--insecure`). */
  token: string | null;
  /** TLS on control and data links (`--tls`; needs a token), or null/absent for plain TCP. */
  tls?: ServerTls | null;
  /** Control listener address. */
  listen: { host: string; port: number };
  /** When to start. */
  start: StartTrigger;
  /** Children per node: 1 = chain (the default). */
  fanout?: number;
  /** Order of nodes in the plan (default "join"). */
  order?: PlanOrder;
  /** Stream hash (default xxh128). */
  hash?: HashAlgorithm;
  /** Compress the stream once, here (`--compress zstd[:LEVEL]`); nodes decompress before their sink. */
  compression?: Compression | null;
  /** Timeout in milliseconds of every wait on a peer (default 30 s). */
  timeoutMs?: number;
  /** A node silent this long while streaming is failed (TIMEOUT) and repaired around (default 3 s). */
  stallTimeoutMs?: number;
  /** Limit on connecting to a node's data port and its handshake (default 10 s). */
  connectTimeoutMs?: number;
  /** Abort the whole deployment as soon as one node fails (all or nothing). */
  abortOnNodeFailure?: boolean;
  /** Each node's rack by name (`--nodes-file`), over what the nodes say (`--label rack=R`). */
  racks?: ReadonlyMap<string, string>;
  /** Take nodes that join after the start when the stream can be had from its first byte (default true). */
  lateJoins?: boolean;
  /**
   * A node that holds the chain back (slow_nodes.ts) is moved off it and fed on its own by the
   * server from its source read again (an image, a block device, --bench): "move", or "stay" (default:
   * on a machine whose nodes share its cores, or behind bursty ports, the detector can take the
   * chain's own pace for one node's slowness; see slow_nodes.ts).
   */
  slowNodes?: "move" | "stay";
  /** Aborts the deployment (operator interrupt). */
  signal?: AbortSignal;
  /** Receives events. */
  onEvent?: (event: ServeEvent) => void;
  /** How often a server no node joined says so (default 30 s). */
  idleNoticeMs?: number;
}

/** {@link ServeOptions} with the library's defaults applied. */
export type ResolvedServeOptions =
  & ServeOptions
  & Required<Pick<ServeOptions, "timeoutMs" | "connectTimeoutMs" | "fanout" | "order" | "hash">>;
