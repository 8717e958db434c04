/**
 * The messages of agents, their head and its clients: all in AGENT frames whose JSON body names its
 * kind. An agent (`kad agent`) and a client (`kad run`, `kad gather`, `kad serve --launch agents`)
 * each hold an authenticated control connection to the head (`kad head`); the head hands jobs to
 * agents and relays what they say to the client that asked. A gather's data flows on links of its
 * own, child to parent (`link`, DATA frames, `verdicts`, `end`). See docs/protocol.md, "Agents".
 *
 * @module
 */

import { ProtocolError } from "../errors.ts";
import { type Fields, MAX_TEXT } from "./fields.ts";

/** The HELLO feature of an agent (`kad agent`): it stays connected and takes jobs. */
export const AGENT_FEATURE = "agent";
/** The HELLO feature of a head's client (`kad run`, `kad gather`, `kad serve --launch agents`). */
export const CLIENT_FEATURE = "client";
/** The prefix of the HELLO feature that identifies one agent process across reconnections. */
export const AGENT_ID_FEATURE = "agent-id=";

/** Most nodes one message may name. */
export const MAX_NODES = 10_000;
/** Most output lines in one `output` message, and the longest line (longer ones are split). */
export const MAX_OUTPUT_LINES = 256;
/** Longest output line carried whole. */
export const MAX_LINE = 2048;
/** Most verdicts in one `verdicts` message. */
export const MAX_VERDICTS = 256;
/** Most arguments of a deployment's `kad join`. */
const MAX_ARGS = 64;
/** Children of one node in a gather tree. */
export const MAX_GATHER_FANOUT = 64;

/** What a gather collects on every node: a file or directory, or a command's standard output. */
export interface GatherSource {
  /** "path": a file (sent as it is) or a directory (as a tar archive); "cmd": `sh -c` output. */
  type: "path" | "cmd";
  /** The path, or the command. */
  value: string;
}

/** How one node's share of a gather ended, as the node that received it judged it. */
export interface GatherVerdict {
  /** The node. */
  node: string;
  /** "ok": its bytes arrived whole and verified (and its command exited 0). */
  status: "ok" | "failed";
  /** Bytes of its own it sent. */
  bytes: number;
  /** Why it failed; "" when ok. */
  error: string;
}

/** An agent as the head lists it. */
export interface AgentInfo {
  /** Its name (unique at the head). */
  name: string;
  /** The address the head sees it at. */
  host: string;
  /** Seconds it has been connected. */
  seconds: number;
}

/** A message of the agent protocol. */
export type AgentMessage =
  /** head → agent or client: the handshake is over; your name at the head. */
  | { kind: "welcome"; name: string }
  /** client → head: which agents are connected? */
  | { kind: "list" }
  /** head → client: the connected agents. */
  | { kind: "agents"; agents: AgentInfo[] }
  /** client → head: run `command` (`sh -c`) on `nodes` (null: every agent). */
  | { kind: "run"; job: string; command: string; nodes: string[] | null }
  /** client → head, then head → agent: run `kad join` against the head's host at `port`, with `args`. */
  | { kind: "deploy"; job: string; port: number; args: string[]; nodes: string[] | null }
  /** client → head: gather `source` from `nodes` towards the client's listener at `port`. */
  | {
    kind: "gather";
    job: string;
    port: number;
    source: GatherSource;
    merge: string | null;
    fanout: number;
    nodes: string[] | null;
  }
  /** head → agent: run `command` with `sh -c`. */
  | { kind: "exec"; job: string; command: string }
  /** head → agent: your part of a gather: send to `parent` (host "" = the head's host), merge `children`. */
  | {
    kind: "gather-job";
    job: string;
    key: string;
    parent: { host: string; port: number };
    children: string[];
    source: GatherSource;
    merge: string | null;
  }
  /** head → client: the agents a job went to, those asked for that are not connected, the root's children. */
  | { kind: "plan"; job: string; nodes: string[]; missing: string[]; children: string[]; key: string }
  /** agent → head ("" node), head → client: lines a job's command wrote. */
  | { kind: "output"; job: string; node: string; stream: "out" | "err"; lines: string[] }
  /** agent → head ("" node), head → client: a node's job ended (code null: it did not run or was lost). */
  | { kind: "exit"; job: string; node: string; code: number | null; error: string }
  /** head → client: every node of the job has ended. */
  | { kind: "done"; job: string }
  /** head → agent: stop the job (its client left). */
  | { kind: "cancel"; job: string }
  /** gather child → parent, first frame of a link: who sends what; the handshake under the job key follows. */
  | { kind: "link"; job: string; node: string; nonce: string; stream: "tar" | "raw" }
  /** gather child → parent, after its data: verdicts of its subtree (several messages when many). */
  | { kind: "verdicts"; verdicts: GatherVerdict[] }
  /** gather child → parent: the end of its stream, its length and SHA-256. */
  | { kind: "end"; bytes: number; hash: string };

/** A job id: 16 lowercase hex digits. */
const JOB_ID = /^[0-9a-f]{16}$/;

/** A new job id. */
export function newJobId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

/** Decodes the body of an AGENT frame. */
export function decodeAgentMessage(o: Fields): AgentMessage {
  const kind = o.text("kind", 16);
  switch (kind) {
    case "welcome":
      return { kind, name: o.name("name") };
    case "list":
      return { kind };
    case "agents":
      return {
        kind,
        agents: o.objects("agents", MAX_NODES, (a) => ({
          name: a.name("name"),
          host: a.text("host", 255),
          seconds: a.number("seconds"),
        })),
      };
    case "run":
      return { kind, job: job(o), command: command(o, "command"), nodes: nodes(o) };
    case "deploy":
      return {
        kind,
        job: job(o),
        port: o.port("port"),
        args: o.texts("args", MAX_ARGS, MAX_TEXT),
        nodes: nodes(o),
      };
    case "gather": {
      const fanout = o.int("fanout");
      if (fanout < 1 || fanout > MAX_GATHER_FANOUT) o.fail("fanout");
      return {
        kind,
        job: job(o),
        port: o.port("port"),
        source: source(o),
        merge: o.textOrNull("merge"),
        fanout,
        nodes: nodes(o),
      };
    }
    case "exec":
      return { kind, job: job(o), command: command(o, "command") };
    case "gather-job": {
      const parent = o.object("parent");
      return {
        kind,
        job: job(o),
        key: o.sealedKey("key"),
        parent: { host: parent.text("host", 255), port: parent.port("port") },
        children: o.names("children", MAX_GATHER_FANOUT),
        source: source(o),
        merge: o.textOrNull("merge"),
      };
    }
    case "plan":
      return {
        kind,
        job: job(o),
        nodes: o.names("nodes", MAX_NODES),
        missing: o.names("missing", MAX_NODES),
        children: o.names("children", MAX_NODES),
        key: o.sealedKey("key"),
      };
    case "output": {
      const stream = o.text("stream", 3);
      if (stream !== "out" && stream !== "err") o.fail("stream");
      return {
        kind,
        job: job(o),
        node: nodeOrEmpty(o),
        stream,
        lines: o.texts("lines", MAX_OUTPUT_LINES, MAX_LINE),
      };
    }
    case "exit":
      return { kind, job: job(o), node: nodeOrEmpty(o), code: o.intOrNull("code"), error: o.text("error") };
    case "done":
    case "cancel":
      return { kind, job: job(o) };
    case "link": {
      const stream = o.text("stream", 3);
      if (stream !== "tar" && stream !== "raw") o.fail("stream");
      return { kind, job: job(o), node: o.name("node"), nonce: o.nonce("nonce", false), stream };
    }
    case "verdicts":
      return {
        kind,
        verdicts: o.objects("verdicts", MAX_VERDICTS, (v: Fields) => {
          const status = v.text("status", 6);
          if (status !== "ok" && status !== "failed") v.fail("status");
          return { node: v.name("node"), status, bytes: v.int("bytes"), error: v.text("error") };
        }),
      };
    case "end": {
      const hash = o.text("hash", 64);
      if (!/^[0-9a-f]{64}$/.test(hash)) o.fail("hash");
      return { kind, bytes: o.int("bytes"), hash };
    }
    default:
      throw new ProtocolError(`Unknown agent message "${kind.slice(0, 16)}"`);
  }
}

function job(o: Fields): string {
  const id = o.text("job", 16);
  if (!JOB_ID.test(id)) o.fail("job");
  return id;
}

function command(o: Fields, key: string): string {
  const text = o.text(key);
  if (text.trim() === "") o.fail(key);
  return text;
}

function nodes(o: Fields): string[] | null {
  return o.isNull("nodes") ? null : o.names("nodes", MAX_NODES);
}

function nodeOrEmpty(o: Fields): string {
  return o.text("node", 255) === "" ? "" : o.name("node");
}

function source(o: Fields): GatherSource {
  const s: Fields = o.object("source");
  const type = s.text("type", 4);
  if (type !== "path" && type !== "cmd") s.fail("type");
  return { type, value: command(s, "value") };
}
