/**
 * kad: clone one machine onto hundreds at the speed of one.
 *
 * The source streams once into a TCP chain (or tree) of nodes; every node writes the stream to a
 * local sink (tar -x, dd, a file, a command) while forwarding it to the next, and the server ends
 * with a verified report: a node is ok only when its byte count and hash equal the source's.
 *
 * This module is the deployment API the `kad` command is built on: a {@link Server} that streams a
 * source to the nodes that join it, {@link join} for a node, and the report they end with. A
 * whole deployment in one program, on loopback:
 *
 * ```ts
 * import { allOk, join, Server } from "./mod.ts";
 *
 * const server = new Server({
 *   source: { kind: "generated", bytes: 1_000_000 },
 *   token: "an example token, 16+ characters",
 *   listen: { host: "127.0.0.1", port: 0 },
 *   start: { clients: 2 },
 * });
 * const port = await server.listen();
 * const node = (name: string) =>
 *   join({
 *     server: { host: "127.0.0.1", port },
 *     name,
 *     token: "an example token, 16+ characters",
 *     sink: { kind: "null" },
 *     listen: { host: "127.0.0.1", port: 0 },
 *   });
 * const [report, a, b] = await Promise.all([server.run(), node("a"), node("b")]);
 * console.assert(allOk(report) && a.status === "ok" && b.status === "ok");
 * ```
 *
 * For a cluster that stays connected, {@link Head} keeps agents ({@link runAgent}) between jobs and
 * a {@link HeadClient} hands them commands, deployments and gathers (`kad head`, `kad agent`,
 * `kad run`, `kad gather`).
 *
 * Internals (the relay, the wire protocol, the repair coordinator) are not part of this surface.
 *
 * @module
 */

export {
  DEFAULT_STALL_TIMEOUT_MS,
  type JoinedNode,
  type ServeEvent,
  type ServeOptions,
  type ServeProgress,
  Server,
} from "./lib/server/serve.ts";
export type { NodeProgress } from "./lib/server/serve_events.ts";
export {
  type DeploymentStatus,
  type NodeState,
  type NodeStatus,
  StatusBoard,
  type ThroughputSample,
} from "./lib/status/deployment_status.ts";
export { StatusServer, type StatusServerOptions, type StatusSource } from "./lib/status/status_server.ts";
export type { Refusal } from "./lib/server/admission.ts";
export type { StartTrigger } from "./lib/server/start_trigger.ts";
export { join, type JoinEvent, type JoinOptions, type JoinResult } from "./lib/node/join.ts";
export type { PostInstallSpec } from "./lib/node/post_install.ts";
export type { SourceSpec } from "./lib/source/source.ts";
export type { SinkSpec } from "./lib/sink/sink.ts";
export type {
  PeerAddress,
  StreamCompression,
  StreamInfo,
  StreamKind,
  WireError,
} from "./lib/protocol/messages.ts";
export { type Compression, parseCompression } from "./lib/compression/zstd.ts";
export type { RingGeometry } from "./lib/relay/fan_out.ts";
export {
  allOk,
  type DeploymentReport,
  nodeRate,
  type NodeResult,
  type RepairRecord,
  slowestNode,
  type SourceOutcome,
  type StreamProtection,
  summarize,
} from "./lib/report/report.ts";
export type { PhaseNote, PhaseRecord } from "./lib/report/phase.ts";
export {
  type Plan,
  type PlanInput,
  type PlannedNode,
  type PlanOptions,
  type PlanOrder,
  planTopology,
  SERVER_NAME,
} from "./lib/topology/planner.ts";
export { checkToken, generateToken, TOKEN_ENV } from "./lib/security/join_token.ts";
export type { ServerTls, TlsIdentity } from "./lib/net/tls.ts";
export { type HashAlgorithm, hashFile } from "./lib/integrity/stream_hash.ts";
export { type CompareOptions, compareTrees, type TreeDifference } from "./lib/verify/tree_compare.ts";
export {
  AuthError,
  ConfigError,
  describeError,
  ERROR_CODES,
  type ErrorCode,
  KadError,
  ProtocolError,
  TimeoutError,
} from "./lib/errors.ts";
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS } from "./lib/net/timeouts.ts";
export { DEFAULT_RING_BYTES } from "./lib/relay/fan_out.ts";
export { DEFAULT_CONTROL_PORT } from "./lib/protocol/frame.ts";
export {
  AGENT_PING_MS,
  DEFAULT_HEAD_PORT,
  Head,
  type HeadEvent,
  type HeadOptions,
} from "./lib/agent/head.ts";
export { type AgentEvent, type AgentOptions, runAgent } from "./lib/agent/agent.ts";
export {
  HeadClient,
  type JobExit,
  type JobListener,
  type JobOutput,
  type JobPlan,
  type JobRequest,
} from "./lib/agent/head_client.ts";
export type { AgentInfo, AgentMessage, GatherSource, GatherVerdict } from "./lib/protocol/agent_messages.ts";
export { newJobId } from "./lib/protocol/agent_messages.ts";
export { expandHosts, foldHosts, parseHostsFile } from "./lib/cluster/host_list.ts";
export { type OutputGroup, OutputGroups } from "./lib/cluster/output_groups.ts";
