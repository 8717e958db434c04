/**
 * A node of a deployment (`kad join`): registers with the server, waits for its place in the
 * plan, links to its upstream and children, writes the stream to its local sink while relaying it,
 * verifies count and hash, and reports.
 *
 * @module
 */

import { ConfigError, KadError } from "../errors.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import type {
  PlanMessage,
  ResumeRequest,
  StreamCompression,
  StreamInfo,
  WireError,
} from "../protocol/messages.ts";
import type { RingGeometry } from "../relay/fan_out.ts";
import { validateSink } from "../sink/open_sink.ts";
import { readResume } from "../sink/resume_record.ts";
import type { SinkSpec } from "../sink/sink.ts";
import type { PhaseNote } from "../report/phase.ts";
import type { PostInstallSpec } from "./post_install.ts";
import { introduce, openDataListener } from "./introduction.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from "../net/timeouts.ts";
import { NodeRun } from "./node_run.ts";

/** Options of {@link join}. */
export interface JoinOptions extends RingGeometry {
  /** The server's control address. */
  server: { host: string; port: number };
  /** This node's name (unique in the deployment). */
  name: string;
  /**
   * The name is a default (the host name), not chosen by the operator: when another node holds it
   * the server gives this one a unique name (`vm-2`) instead of refusing it.
   */
  renameIfTaken?: boolean;
  /** The join token the server was started with; null joins an `--insecure` server. */
  token: string | null;
  /** TLS (`--tls`): the CA that signed the server's certificate; null/absent for plain TCP. */
  tls?: { ca: string } | null;
  /** Where the stream goes. */
  sink: SinkSpec;
  /** Store whatever the stream is as raw bytes (`--raw`): a tar archive kept as a file or on a disk. */
  raw?: boolean;
  /**
   * How long to wait for a server that is not up yet, in milliseconds: retrying with backoff,
   * saying so every 10 s. Infinity (the default) waits until interrupted; 0 tries once.
   */
  waitServerMs?: number;
  /** Data listener address (port 0 picks a free port). */
  listen: { host: string; port: number };
  /** Host to advertise for the data port; empty (the default) lets the server use the address it sees. */
  advertise?: string;
  /** Port to advertise when it differs from the listening one (port forwarding, a proxy); 0 = the same. */
  advertisePort?: number;
  /** Timeout in milliseconds of every wait on a peer (default {@link DEFAULT_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** Limit on connecting to a peer and its handshake (default {@link DEFAULT_CONNECT_TIMEOUT_MS}). */
  connectTimeoutMs?: number;
  /** Leave the stream when the local sink fails, instead of relaying on (the default). */
  abortOnSinkError?: boolean;
  /** Phases the node went through before it joined (`--phase`), told to the server in HELLO. */
  phases?: readonly PhaseNote[];
  /** The node's labels (`--label KEY=VALUE`): with `rack`, the server forms one chain per rack. */
  labels?: Readonly<Record<string, string>>;
  /**
   * A command run once the copy is verified and in place (`--post-install`); the phases it prints
   * go to the server, and the node fails (`POST`) when it does.
   */
  postInstall?: PostInstallSpec | null;
  /** Aborts the node (operator interrupt). */
  signal?: AbortSignal;
  /** Receives progress events. */
  onEvent?: (event: JoinEvent) => void;
}

/** {@link JoinOptions} with the library's defaults applied. */
export type ResolvedJoinOptions =
  & JoinOptions
  & Required<Pick<JoinOptions, "timeoutMs" | "connectTimeoutMs">>
  & {
    /** A copy (`--out FILE`) this node was cut off from mid-stream, to take up; null for none. */
    resume: ResumeRequest | null;
  };

/** What a node runs with once admitted: its options, its name in the deployment, how the stream comes. */
export type NodeOptions = ResolvedJoinOptions & {
  /** The stream's compression at the source: the node decompresses before its sink. */
  compression: StreamCompression;
  /** Where it takes up its copy (the server agreed; 0: from the start). */
  resumeFrom: number;
};

/** What a node reports at the end. */
export interface JoinResult {
  /** Node name. */
  name: string;
  /** Position in the plan. */
  position: number;
  /** "ok" only for a verified copy. */
  status: "ok" | "failed";
  /** Why it failed. */
  error: WireError | null;
  /** Bytes received. */
  bytes: number;
  /** Hash of what was received. */
  hash: string;
  /** Seconds from the first byte to the sink's exit. */
  seconds: number;
  /** Times the node was relinked to a new upstream by a repair. */
  repairs: number;
}

/** Events a node emits while it runs. */
export type JoinEvent =
  | { type: "listening"; port: number }
  | { type: "waiting"; server: string; seconds: number; reason: string }
  | {
    type: "joined";
    deployment: string;
    joinIndex: number;
    /** The node's name in the deployment. */
    name: string;
    /** The name asked for, when the server gave another because it was taken. */
    renamedFrom: string | null;
    stream: StreamInfo;
    /** Where it takes up the copy it was cut off from (0 or null: from the start). */
    resumeFrom: number | null;
  }
  | { type: "planned"; position: number; nodeCount: number; upstream: string; children: string[] }
  | { type: "progress"; bytes: number; streamBytes: number | null }
  | { type: "orphaned"; upstream: string; bytes: number; reason: WireError }
  | { type: "relinked"; upstream: string; bytes: number }
  | { type: "post-install"; command: string }
  | { type: "post-install-output"; line: string }
  | { type: "done"; result: JoinResult };

/**
 * Joins a deployment and returns the node's verdict. A server that is not up yet is waited for
 * (`waitServerMs`). Setup failures (refused, not a kad server, a wrong token) throw a {@link KadError};
 * failures after the plan arrives are in the result.
 *
 * @param given Where the server is, this node's name, sink and token; unset timeouts take the defaults.
 * @returns This node's own verdict on its copy (the server checks it again).
 * @example A node that counts and hashes what it receives
 * ```ts ignore
 * import { join } from "./join.ts";
 *
 * const result = await join({
 *   server: { host: "head", port: 9997 },
 *   name: Deno.hostname(),
 *   renameIfTaken: true,
 *   token: Deno.env.get("KAD_TOKEN")!,
 *   sink: { kind: "null" },
 *   listen: { host: "0.0.0.0", port: 0 },
 * });
 * console.log(result.status, result.bytes);
 * ```
 */
export async function join(given: JoinOptions): Promise<JoinResult> {
  // a copy cut off mid-stream (killed, rebooted) asks to be taken up, under the name it had
  const copy = given.sink.kind === "file" ? await readResume(given.sink.path) : null;
  const options: ResolvedJoinOptions = {
    ...given,
    name: copy && given.renameIfTaken ? copy.record.name : given.name,
    timeoutMs: given.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    connectTimeoutMs: given.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    resume: copy && { deployment: copy.record.deployment, offset: copy.holds },
  };
  await validateSink(options.sink);
  if (options.tls && options.token === null) {
    throw new ConfigError(
      "--tls needs a join token: the server hands its certificate only to nodes that prove it",
    );
  }
  // on --tls the data listener opens once the server has handed over the certificate it presents
  let listener = options.tls ? null : openDataListener(options, null);
  let control: FrameConn | null = null;
  try {
    const introduced = await introduce(options, listener);
    ({ control, listener } = introduced);
    const { accepted } = introduced;
    options.onEvent?.({
      type: "joined",
      deployment: accepted.deployment,
      joinIndex: accepted.joinIndex,
      name: accepted.name,
      renamedFrom: accepted.name === options.name ? null : options.name,
      stream: accepted.stream,
      resumeFrom: accepted.resumeFrom,
    });
    const plan = await waitForPlan(control, options.signal);
    options.onEvent?.({
      type: "planned",
      position: plan.position,
      nodeCount: plan.nodeCount,
      upstream: plan.upstream,
      children: plan.children.map((c) => c.name),
    });
    const named: NodeOptions = {
      ...options,
      name: accepted.name,
      compression: accepted.stream.compression,
      resumeFrom: accepted.resumeFrom ?? 0,
    };
    const result = await new NodeRun(named, control, listener, plan, introduced.sealKey).run();
    options.onEvent?.({ type: "done", result });
    return result;
  } finally {
    control?.close();
    try {
      listener?.close();
    } catch {
      // closed by a timeout
    }
  }
}

async function waitForPlan(control: FrameConn, signal?: AbortSignal): Promise<PlanMessage> {
  const onAbort = () => control.close();
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      let message;
      try {
        message = await control.readMessage();
      } catch (error) {
        if (signal?.aborted) {
          throw new KadError("ABORT", "Interrupted while waiting for the deployment to start");
        }
        throw error;
      }
      if (message === null) {
        if (signal?.aborted) {
          throw new KadError("ABORT", "Interrupted while waiting for the deployment to start");
        }
        throw new KadError("NRF", `${control.peer} closed the connection before the deployment started`);
      }
      switch (message.type) {
        case FrameType.PLAN:
          return message.body;
        case FrameType.PING:
          continue;
        case FrameType.ERROR:
        case FrameType.ABORT:
          throw new KadError(message.body.code, message.body.message);
        default:
          throw new KadError("PROTO", `Unexpected message from ${control.peer} before the plan`);
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
