/**
 * kad: clone one machine onto hundreds at the speed of one.
 *
 * The source streams once into a TCP chain (or tree) of nodes; every node writes the stream to a
 * local sink (tar -x, dd, a file, a command) while forwarding it to the next. This module is the
 * engine behind the `kad` command, usable as a library:
 *
 * ```ts ignore
 * import { join, Server } from "./mod.ts";
 *
 * const server = new Server({
 *   source: { kind: "dir", path: "/srv/golden", excludes: [], defaultExcludes: true },
 *   listen: { host: "0.0.0.0", port: 9997 },
 *   start: { clients: 8 },
 *   fanout: 1,
 *   order: "join",
 *   hash: "xxh128",
 *   timeoutMs: 30_000,
 *   token: Deno.env.get("KAD_TOKEN")!, // null: --insecure
 * });
 * await server.listen();
 * const report = await server.run();
 * ```
 *
 * @module
 */

export {
  AbortReceivedError,
  AuthError,
  ConfigError,
  describeError,
  ERROR_CODES,
  type ErrorCode,
  KadError,
  type KadErrorOptions,
  ProtocolError,
  SubprocessError,
  TimeoutError,
} from "./lib/errors.ts";
export {
  DEFAULT_STALL_TIMEOUT_MS,
  type JoinedNode,
  type ServeEvent,
  type ServeOptions,
  type ServeProgress,
  Server,
} from "./lib/server/serve.ts";
export type { Refusal } from "./lib/server/admission.ts";
export type { StartTrigger } from "./lib/server/start_trigger.ts";
export { join, type JoinEvent, type JoinOptions, type JoinResult } from "./lib/node/join.ts";
export {
  parsePhaseLine,
  type PostInstallHooks,
  type PostInstallSpec,
  runPostInstall,
} from "./lib/node/post_install.ts";
export {
  JOINED_PHASE,
  MAX_PHASE_DETAIL,
  MAX_PHASES_PER_NODE,
  parsePhaseNote,
  PHASE_NAME,
  type PhaseNote,
  type PhaseRecord,
  POST_INSTALL_PHASE,
  RECEIVED_PHASE,
} from "./lib/report/phase.ts";
export {
  MAX_FANOUT,
  type Plan,
  planDepth,
  type PlanInput,
  type PlannedNode,
  type PlanOptions,
  type PlanOrder,
  planTopology,
  SERVER_NAME,
} from "./lib/topology/planner.ts";
export {
  type ByteHistory,
  DEFAULT_RING_BYTES,
  DEFAULT_SLOT_BYTES,
  DEFAULT_SLOTS,
  FanOut,
  type FanOutOptions,
  type FanOutput,
  NotRetainedError,
  type OutputView,
  relayFanOutOptions,
  type RingGeometry,
  Slot,
} from "./lib/relay/fan_out.ts";
export { LiveTopology } from "./lib/topology/live_topology.ts";
export {
  allOk,
  type DeploymentReport,
  judgeNode,
  nodeRate,
  type NodeResult,
  type RepairRecord,
  slowestNode,
  type SourceOutcome,
  summarize,
} from "./lib/report/report.ts";
export { describeSink, type Sink, type SinkSpec } from "./lib/sink/sink.ts";
export { openSink, validateSink } from "./lib/sink/open_sink.ts";
export { DEFAULT_EXCLUDES, type Source, type SourceSpec } from "./lib/source/source.ts";
export { openSource, validateSource } from "./lib/source/open_source.ts";
export {
  createStreamHasher,
  HASH_ALGORITHMS,
  type HashAlgorithm,
  hashFile,
  parseHashAlgorithm,
  type StreamHasher,
} from "./lib/integrity/stream_hash.ts";
export {
  decodeHeader,
  DEFAULT_LIMITS,
  encodeJsonFrame,
  FLAG_MAC,
  FRAME_HEADER_BYTES,
  FRAME_MAGIC,
  type FrameHeader,
  type FrameLimits,
  FrameType,
  type FrameTypeValue,
  MAC_TRAILER_BYTES,
  MAX_CONTROL_PAYLOAD,
  MAX_DATA_PAYLOAD,
  PROTOCOL_VERSION,
  writeHeader,
} from "./lib/protocol/frame.ts";
export type {
  AcceptMessage,
  AckMessage,
  AdoptedMessage,
  AdoptFailedMessage,
  ChallengeMessage,
  DataPortMessage,
  DropMessage,
  EndMessage,
  ErrorMessage,
  HelloMessage,
  LinkChallengeMessage,
  LinkMessage,
  LinkOkMessage,
  LinkPeer,
  LinkProblem,
  Message,
  NewUpstreamMessage,
  PeerAddress,
  PhaseMessage,
  PlanMessage,
  ProgressMessage,
  ProofMessage,
  ReportMessage,
  StreamInfo,
  StreamKind,
  TlsLinkCertMessage,
  UpstreamLostMessage,
  WireError,
} from "./lib/protocol/messages.ts";
export { decodeMessage, frameName, POST_INSTALL_FEATURE } from "./lib/protocol/messages.ts";
export { checkToken, generateToken, MIN_TOKEN_LENGTH, TOKEN_ENV } from "./lib/security/join_token.ts";
export { FrameAuth } from "./lib/security/frame_mac.ts";
export { checkServerTls, readPem, type ServerTls, type TlsIdentity, type TlsTrust } from "./lib/net/tls.ts";
export { type CompareOptions, compareTrees, type TreeDifference } from "./lib/verify/tree_compare.ts";
export { buildSampleTree, type SampleTreeOptions } from "./lib/verify/sample_tree.ts";
