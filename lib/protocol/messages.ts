/**
 * Control messages (JSON payloads) of the kad protocol, with strict decoding: every field is
 * checked for type and size, unknown message shapes are rejected.
 *
 * @module
 */

import { describeError, type ErrorCode, KadError, ProtocolError } from "../errors.ts";
import { FrameType, type FrameTypeValue } from "./frame.ts";
import { Fields, MAX_NAME } from "./fields.ts";
import { type AgentMessage, decodeAgentMessage } from "./agent_messages.ts";

/** A phase a node went through, as it announces it (HELLO, PHASE). */
export interface PhaseNote {
  /** Phase name: a lowercase word such as "booted" (see {@link PHASE_NAME}). */
  phase: string;
  /** Free text about it ("" when none), at most {@link MAX_PHASE_DETAIL} characters. */
  detail: string;
}

/** A peer as named in a plan: where its data port listens. */
export interface PeerAddress {
  /** Node name, unique in a deployment. */
  name: string;
  /** Host name or address of its data listener. */
  host: string;
  /** TCP port of its data listener. */
  port: number;
}

/** A peer a node must link to, with the key of that link (sealed for the receiving node; "" when insecure). */
export interface LinkPeer extends PeerAddress {
  /** The link key, sealed under the receiving node's control session (see sealed_key.ts). */
  key: string;
}

/** The HELLO feature of a node that runs a post-install step after its REPORT (see {@link PhaseMessage}). */
export const POST_INSTALL_FEATURE = "post-install";

/**
 * The HELLO feature of a node whose name is a default (its host name), not one its operator chose:
 * when the name is taken the server gives it a unique one (`vm-2`) in ACCEPT instead of refusing it.
 */
export const RENAME_FEATURE = "rename";

/** The HELLO feature of a node told to store any stream's bytes as they are (`kad join --raw`). */
export const RAW_FEATURE = "raw";

/** The HELLO feature of a node that can decompress a zstd stream (it has the tool; see compression/zstd.ts). */
export const ZSTD_FEATURE = "zstd";

/** The codec a stream is compressed with at the source, or null (see compression/zstd.ts). */
export type StreamCompression = "zstd" | null;

/** What a stream is: a node whose sink does not fit it is refused before it writes any byte. */
export type StreamKind = "tar" | "raw";

/** The stream as the server describes it to every node when it accepts it. */
export interface StreamInfo {
  /** "tar": an archive of a directory (extract it); "raw": bytes as they are (an image, stdin…). */
  kind: StreamKind;
  /** Total bytes when known in advance (images, generated data), else null. */
  bytes: number | null;
  /** What is streamed, e.g. "tar of /srv/golden". */
  description: string;
  /**
   * The codec the server compresses the stream with (`kad serve --compress`), or null: nodes
   * relay it as it is and decompress before their sink. `kind` and `bytes` are the source's own.
   */
  compression: StreamCompression;
}

/** node → server. */
export interface HelloMessage {
  /** Protocol version the node speaks. */
  version: number;
  /** Node name (host name by default). */
  name: string;
  /** Host for the data listener; empty means "the address the server sees". */
  dataHost: string;
  /** Port of the node's data listener; 0 on `--tls`, where DATA_PORT announces it later. */
  dataPort: number;
  /** Kind of local sink ("dir", "dd", "file"…): a sink that does not fit the stream is refused. */
  sink: string;
  /**
   * Optional protocol features of the node: {@link POST_INSTALL_FEATURE}, {@link RENAME_FEATURE},
   * {@link RAW_FEATURE} (reserved: "resume").
   */
  features: string[];
  /** The node's handshake nonce (64 hex digits), or "" for a node run with `--insecure`. */
  nonce: string;
  /** Phases the node went through before it joined (`kad join --phase`), oldest first; at most 16. */
  phases: PhaseNote[];
  /** The node's labels (`kad join --label rack=r12`): the planner forms one chain per rack. */
  labels: Record<string, string>;
  /**
   * A node that was cut off mid-stream (killed, rebooted) and kept its partial copy: the deployment
   * it was in and the bytes it holds, verified-by-hash later; null for a fresh start.
   */
  resume: ResumeRequest | null;
}

/** What a restarted node holds of a deployment it was cut off from. */
export interface ResumeRequest {
  /** The deployment. */
  deployment: string;
  /** Stream bytes its partial copy holds (a whole number of frames). */
  offset: number;
}

/** server → node: the server's nonce and its proof of the join token. */
export interface ChallengeMessage {
  /** The server's nonce. */
  nonce: string;
  /** HMAC proof over both nonces (hex). */
  proof: string;
}

/** node → server (AUTH), upstream → child (LINK_AUTH): a proof of the shared key. */
export interface ProofMessage {
  /** HMAC proof over both nonces (hex). */
  proof: string;
}

/** server → node on `--tls`: the certificate and key the node's data listener presents. */
export interface TlsLinkCertMessage {
  /** Certificate chain, PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
}

/** node → server on `--tls`: where the node's TLS data listener is. */
export interface DataPortMessage {
  /** TCP port. */
  port: number;
}

/** child → upstream: the child's nonce. */
export interface LinkChallengeMessage {
  /** The child's nonce. */
  nonce: string;
}

/** server → node. */
export interface AcceptMessage {
  /** Identifier of this deployment. */
  deployment: string;
  /** Order of joining, from 0. */
  joinIndex: number;
  /** The node's name in this deployment: its HELLO name, or a unique one when that was taken. */
  name: string;
  /** What the node will receive. */
  stream: StreamInfo;
  /** Where the node resumes its partial copy (its HELLO's offset), or null: it starts from 0. */
  resumeFrom: number | null;
}

/** server → node: where the node sits in the topology. */
export interface PlanMessage {
  /** Identifier of this deployment. */
  deployment: string;
  /** Position of the node in the plan, from 1 (1 is fed by the server). */
  position: number;
  /** Number of nodes in the plan. */
  nodeCount: number;
  /** Name of the planned upstream ("server" for heads). */
  upstream: string;
  /** Children the node must feed, in order, with their link keys. */
  children: LinkPeer[];
  /** Key of the link from the upstream, sealed for this node ("" when insecure). */
  upstreamKey: string;
  /** The deployment's stream key (DATA frames are sealed under it), sealed for this node ("" when insecure). */
  streamKey: string;
  /** Stream hash algorithm. */
  hashAlgorithm: string;
  /** Size of the stream when known in advance (image sources), else null. */
  streamBytes: number | null;
  /** Payload bytes of every DATA frame but the last (the source cuts the stream in frames this long). */
  frameBytes: number;
}

/** upstream → child: first frame of a data link. */
export interface LinkMessage {
  /** Identifier of the deployment. */
  deployment: string;
  /** Name of the sending (upstream) node, or "server". */
  from: string;
  /** Name of the node the sender believes it is talking to. */
  to: string;
  /** The upstream's handshake nonce, or "" on an unauthenticated deployment. */
  nonce: string;
}

/** child → upstream: link accepted. */
export interface LinkOkMessage {
  /** Stream offset the child already holds; the upstream sends from there (0 in version 1). */
  offset: number;
}

/** upstream → child: end of the stream. */
export interface EndMessage {
  /** Total bytes of the stream. */
  bytes: number;
  /** Hash of the whole stream, lowercase hex. */
  hash: string;
  /** Hash algorithm name. */
  algorithm: string;
  /** The chain of the DATA frames' seals (security/stream_seal.ts), lowercase hex; "" when unsealed. */
  seals: string;
  /** On a compressed stream, the source's own bytes (what every sink must get); else null. */
  rawBytes: number | null;
}

/** A failure as carried in reports and error messages. */
export interface WireError {
  /** Failure code. */
  code: ErrorCode;
  /** One-line message. */
  message: string;
}

/** A thrown value as a wire error: its own code when it is a {@link KadError}, else `fallback`. */
export function wireError(error: unknown, fallback: ErrorCode): WireError {
  const code = error instanceof KadError ? error.code : fallback;
  return { code, message: describeError(error) };
}

/** A problem a node saw on a link to one of its children. */
export interface LinkProblem {
  /** The child's name. */
  to: string;
  /** What went wrong. */
  error: WireError;
}

/** node → server: the node's final word. */
export interface ReportMessage {
  /** "ok" only when bytes and hash matched and the sink succeeded. */
  status: "ok" | "failed";
  /** Why it failed, or null. */
  error: WireError | null;
  /** Bytes received. */
  bytes: number;
  /** Hash of what was received (empty if unknown). */
  hash: string;
  /** Seconds from first byte to the sink's exit. */
  seconds: number;
  /** Problems feeding children. */
  links: LinkProblem[];
  /** The node's peak resident memory in bytes (optional: absent from older nodes). */
  rssBytes?: number;
  /** CPU seconds the node's process used (optional). */
  cpuSeconds?: number;
}

/**
 * node → server, after its REPORT, from a node that announced {@link POST_INSTALL_FEATURE}: the
 * phases its post-install step prints, then one with `end` set saying how the step ended, after
 * which the node closes. (Phases before the join travel in HELLO.)
 */
export interface PhaseMessage {
  /** Phase name (see {@link PHASE_NAME}). */
  phase: string;
  /** False when the node failed in this phase. */
  ok: boolean;
  /** Free text, at most {@link MAX_PHASE_DETAIL} characters. */
  detail: string;
  /** True on the last phase of the post-install step. */
  end: boolean;
}

/**
 * child → upstream on a data link, as the stream flows: the upstream keeps every byte from `need`
 * on, so that when the child fails, the nodes it fed can be resumed from what they hold.
 */
export interface AckMessage {
  /** Stream bytes the child holds. */
  held: number;
  /** The least any node of the child's subtree that a repair could hand to the upstream holds (≤ held). */
  need: number;
}

/** node → server: progress. */
export interface ProgressMessage {
  /** Bytes received so far. */
  bytes: number;
  /** What this node waited for most since its last PROGRESS, or null (nothing, or unsaid). */
  blocked: Blocked | null;
}

/**
 * What held a node (or the server) back: the output its reading waited for most — a child, or its
 * own sink ("sink") — and the share of the time it waited. A node held back by a child over most of
 * the time runs at that child's pace (server/slow_nodes.ts).
 */
export interface Blocked {
  /** The output: a child's name, or "sink". */
  by: string;
  /** The share of the time it held the node back, 0 to 1. */
  share: number;
}

/** Error or refusal. */
export interface ErrorMessage extends WireError {
  /** Node the error concerns. */
  node?: string;
}

/** server → node: stop feeding a child that failed, and feed the nodes it fed (or the same child again). */
export interface DropMessage extends WireError {
  /** The child to stop feeding. */
  node: string;
  /** Nodes to link to and feed from the offset each says it holds, with the new links' keys. */
  adopt: LinkPeer[];
}

/** node → server: the link from the upstream broke; the node waits for a new one. */
export interface UpstreamLostMessage extends WireError {
  /** The upstream that was lost. */
  upstream: string;
  /** Stream bytes the node holds. */
  offset: number;
}

/** node → server: an adopted child is fed again. */
export interface AdoptedMessage {
  /** The child. */
  child: string;
  /** Offset the child resumed from. */
  offset: number;
  /** Bytes resent from the ring (the adopter's position minus the child's offset). */
  resent: number;
}

/** node → server: an adoption failed. */
export interface AdoptFailedMessage extends WireError {
  /** The child. */
  child: string;
  /** Offset the child asked for (0 when it could not be reached). */
  offset: number;
}

/** server → node: where the stream now comes from. */
export interface NewUpstreamMessage {
  /** Name of the new upstream ("server" or a node). */
  upstream: string;
  /** Key of the link from it, sealed for this node ("" when insecure). */
  key: string;
}

/** A decoded control message, tagged by frame type. */
export type Message =
  | { type: typeof FrameType.HELLO; body: HelloMessage }
  | { type: typeof FrameType.ACCEPT; body: AcceptMessage }
  | { type: typeof FrameType.PLAN; body: PlanMessage }
  | { type: typeof FrameType.LINK; body: LinkMessage }
  | { type: typeof FrameType.LINK_OK; body: LinkOkMessage }
  | { type: typeof FrameType.END; body: EndMessage }
  | { type: typeof FrameType.REPORT; body: ReportMessage }
  | { type: typeof FrameType.PROGRESS; body: ProgressMessage }
  | { type: typeof FrameType.ACK; body: AckMessage }
  | { type: typeof FrameType.PHASE; body: PhaseMessage }
  | { type: typeof FrameType.PING; body: Record<string, never> }
  | { type: typeof FrameType.ERROR; body: ErrorMessage }
  | { type: typeof FrameType.ABORT; body: ErrorMessage }
  | { type: typeof FrameType.DROP; body: DropMessage }
  | { type: typeof FrameType.UPSTREAM_LOST; body: UpstreamLostMessage }
  | { type: typeof FrameType.ADOPTED; body: AdoptedMessage }
  | { type: typeof FrameType.ADOPT_FAILED; body: AdoptFailedMessage }
  | { type: typeof FrameType.NEW_UPSTREAM; body: NewUpstreamMessage }
  | { type: typeof FrameType.CHALLENGE; body: ChallengeMessage }
  | { type: typeof FrameType.AUTH; body: ProofMessage }
  | { type: typeof FrameType.LINK_CHALLENGE; body: LinkChallengeMessage }
  | { type: typeof FrameType.LINK_AUTH; body: ProofMessage }
  | { type: typeof FrameType.TLS_LINK_CERT; body: TlsLinkCertMessage }
  | { type: typeof FrameType.DATA_PORT; body: DataPortMessage }
  | { type: typeof FrameType.AGENT; body: AgentMessage };

/** Decodes and validates the JSON payload of a control frame. */
export function decodeMessage(type: FrameTypeValue, payload: Uint8Array): Message {
  const o = Fields.parse(payload, frameName(type));
  switch (type) {
    case FrameType.HELLO:
      return {
        type,
        body: {
          version: o.int("version"),
          name: o.name("name"),
          dataHost: o.text("dataHost", MAX_NAME),
          dataPort: o.portOrZero("dataPort"),
          sink: o.text("sink", 64),
          features: o.strings("features"),
          // absent from nodes that predate authentication: they are refused as tokenless
          nonce: o.has("nonce") ? o.nonce("nonce", true) : "",
          phases: o.has("phases") ? o.phaseNotes("phases") : [],
          labels: o.has("labels") ? o.labels("labels") : {},
          resume: o.has("resume") ? o.resume("resume") : null,
        },
      };
    case FrameType.ACCEPT:
      return {
        type,
        body: {
          deployment: o.name("deployment"),
          joinIndex: o.int("joinIndex"),
          name: o.name("name"),
          stream: o.stream("stream"),
          resumeFrom: o.has("resumeFrom") ? o.intOrNull("resumeFrom") : null,
        },
      };
    case FrameType.PLAN:
      return {
        type,
        body: {
          deployment: o.name("deployment"),
          position: o.int("position"),
          nodeCount: o.int("nodeCount"),
          upstream: o.name("upstream"),
          children: o.peers("children"),
          upstreamKey: o.sealedKey("upstreamKey"),
          streamKey: o.sealedKey("streamKey"),
          hashAlgorithm: o.name("hashAlgorithm"),
          streamBytes: o.intOrNull("streamBytes"),
          frameBytes: o.has("frameBytes") ? o.int("frameBytes") : 0,
        },
      };
    case FrameType.LINK:
      return {
        type,
        body: {
          deployment: o.name("deployment"),
          from: o.name("from"),
          to: o.name("to"),
          nonce: o.nonce("nonce", true),
        },
      };
    case FrameType.LINK_OK:
      return { type, body: { offset: o.int("offset") } };
    case FrameType.END:
      return {
        type,
        body: {
          bytes: o.int("bytes"),
          hash: o.text("hash", 256),
          algorithm: o.name("algorithm"),
          seals: o.text("seals", 64),
          rawBytes: o.intOrNull("rawBytes"),
        },
      };
    case FrameType.REPORT: {
      const status = o.text("status", 16);
      if (status !== "ok" && status !== "failed") o.fail("status");
      return {
        type,
        body: {
          status: status as "ok" | "failed",
          error: o.errorOrNull("error"),
          bytes: o.int("bytes"),
          hash: o.text("hash", 256),
          seconds: o.number("seconds"),
          links: o.linkProblems("links"),
          ...(o.has("rssBytes") ? { rssBytes: o.int("rssBytes") } : {}),
          ...(o.has("cpuSeconds") ? { cpuSeconds: o.number("cpuSeconds") } : {}),
        },
      };
    }
    case FrameType.ACK: {
      const held = o.int("held");
      const need = o.int("need");
      if (need > held) o.fail("need");
      return { type, body: { held, need } };
    }
    case FrameType.PROGRESS:
      return {
        type,
        body: { bytes: o.int("bytes"), blocked: o.has("blocked") ? o.blocked("blocked") : null },
      };
    case FrameType.PHASE:
      return { type, body: { ...o.phaseNote(), ok: o.bool("ok"), end: o.bool("end") } };
    case FrameType.PING:
      return { type, body: {} };
    case FrameType.ERROR:
    case FrameType.ABORT:
      return { type, body: o.error() };
    case FrameType.DROP: {
      const { code, message } = o.error();
      return { type, body: { code, message, node: o.name("node"), adopt: o.peers("adopt") } };
    }
    case FrameType.UPSTREAM_LOST: {
      const { code, message } = o.error();
      return { type, body: { code, message, upstream: o.name("upstream"), offset: o.int("offset") } };
    }
    case FrameType.ADOPTED:
      return { type, body: { child: o.name("child"), offset: o.int("offset"), resent: o.int("resent") } };
    case FrameType.ADOPT_FAILED: {
      const { code, message } = o.error();
      return { type, body: { code, message, child: o.name("child"), offset: o.int("offset") } };
    }
    case FrameType.NEW_UPSTREAM:
      return { type, body: { upstream: o.name("upstream"), key: o.sealedKey("key") } };
    case FrameType.CHALLENGE:
      return { type, body: { nonce: o.nonce("nonce", false), proof: o.proof("proof") } };
    case FrameType.AUTH:
    case FrameType.LINK_AUTH:
      return { type, body: { proof: o.proof("proof") } };
    case FrameType.LINK_CHALLENGE:
      return { type, body: { nonce: o.nonce("nonce", false) } };
    case FrameType.TLS_LINK_CERT:
      return { type, body: { cert: o.pem("cert"), key: o.pem("key") } };
    case FrameType.DATA_PORT:
      return { type, body: { port: o.port("port") } };
    case FrameType.AGENT:
      return { type, body: decodeAgentMessage(o) };
    default:
      throw new ProtocolError(`Unexpected ${frameName(type)} frame with a JSON payload`);
  }
}

/** Human-readable name of a frame type. */
export function frameName(type: number): string {
  return FRAME_NAMES.get(type) ?? `0x${type.toString(16)}`;
}
const FRAME_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(FrameType).map(([name, type]) => [type, name]),
);
