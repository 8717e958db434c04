/**
 * The head (`kad head`): the daemon agents stay connected to between jobs, and the one its clients
 * (`kad run`, `kad gather`, `kad serve --launch agents`) ask to hand a job to them. Every
 * connection proves the join token (both ways: an agent takes jobs only from a head that proved
 * it) and its frames carry MACs. The head relays what agents say about a job to the client that
 * asked; a job's data (a deployment, a gather) flows on links of its own, never through the head.
 *
 * @module
 */

import { AuthError, describeError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { listenOn } from "../net/listen.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import type { HelloMessage } from "../protocol/messages.ts";
import {
  AGENT_FEATURE,
  AGENT_ID_FEATURE,
  type AgentInfo,
  type AgentMessage,
  CLIENT_FEATURE,
} from "../protocol/agent_messages.ts";
import { challengeNode } from "../security/control_handshake.ts";
import type { ControlSession } from "../security/handshake.ts";
import { tokenKey } from "../security/join_token.ts";
import { jobOrders, type JobRequest } from "./job_orders.ts";
import { logger } from "../log.ts";

const log = logger("head");

/** The port agents and clients reach the head on unless told otherwise. */
export const DEFAULT_HEAD_PORT = 9996;
/** How often the head and an agent say they are alive; three silent periods end the connection. */
export const AGENT_PING_MS = 10_000;

/** What the head tells its operator. */
export type HeadEvent =
  | { type: "listening"; host: string; port: number }
  | { type: "agent-joined"; name: string; host: string; agents: number }
  | { type: "agent-left"; name: string; reason: string; agents: number }
  /** A job handed to its agents; `ms`: from the request to the last order written. */
  | { type: "job"; job: string; kind: string; nodes: number; missing: number; ms: number }
  | { type: "refused"; peer: string; reason: string };

/** Options of a {@link Head}. */
export interface HeadOptions {
  /** Where to listen. */
  listen: { host: string; port: number };
  /** The join token agents and clients prove. */
  token: string;
  /** The handshake's limit. */
  connectTimeoutMs: number;
  /** Hears what happens. */
  onEvent?: (event: HeadEvent) => void;
}

/** A connected agent. */
interface AgentLink {
  name: string;
  id: string;
  host: string;
  /** Its gather listener's port. */
  port: number;
  control: FrameConn;
  session: ControlSession;
  since: number;
  /** The jobs handed to it on this connection. */
  jobs: Set<string>;
}

/** A job handed to agents, waiting for their ends. */
interface HeadJob {
  id: string;
  client: FrameConn;
  pending: Set<string>;
}

/** The head daemon. */
export class Head {
  readonly #options: HeadOptions;
  readonly #tokenKey: Uint8Array;
  readonly #listener: Deno.Listener;
  readonly #agents = new Map<string, AgentLink>();
  readonly #jobs = new Map<string, HeadJob>();
  #closed = false;

  private constructor(options: HeadOptions, listener: Deno.Listener) {
    this.#options = options;
    this.#tokenKey = tokenKey(options.token);
    this.#listener = listener;
  }

  /**
   * Listens for agents and clients.
   * @throws {ConfigError} when the address cannot be listened on.
   */
  static start(options: HeadOptions): Head {
    const head = new Head(options, listenOn(options.listen, "agents"));
    options.onEvent?.({ type: "listening", host: options.listen.host, port: head.port });
    return head;
  }

  /** The port listened on. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** The agents connected now. */
  agents(): AgentInfo[] {
    const now = performance.now();
    return [...this.#agents.values()].map((a) => ({
      name: a.name,
      host: a.host,
      seconds: Math.round((now - a.since) / 100) / 10,
    }));
  }

  /** Accepts connections until {@link close}. */
  async serve(): Promise<void> {
    const ping = setInterval(() => {
      for (const agent of this.#agents.values()) agent.control.send(FrameType.PING, {}).catch(() => {});
    }, AGENT_PING_MS);
    try {
      for await (const conn of this.#listener) this.#accept(conn).catch(() => {});
    } catch (error) {
      if (!this.#closed) throw error;
    } finally {
      clearInterval(ping);
    }
  }

  /** Stops listening and drops every connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // closed
    }
    for (const agent of this.#agents.values()) agent.control.close();
    for (const job of this.#jobs.values()) job.client.close();
  }

  async #accept(conn: Deno.Conn): Promise<void> {
    noDelay(conn);
    const host = (conn.remoteAddr as Deno.NetAddr).hostname;
    const control = new FrameConn(conn, { peer: host, idleTimeoutMs: this.#options.connectTimeoutMs });
    let hello: HelloMessage;
    let session: ControlSession;
    try {
      hello = await control.expect(FrameType.HELLO);
      const refusal = helloRefusal(hello);
      if (refusal !== null) throw new AuthError(refusal);
      session = await challengeNode(control, this.#tokenKey, hello);
    } catch (error) {
      const reason = describeError(error);
      this.#options.onEvent?.({ type: "refused", peer: host, reason });
      await control.send(FrameType.ERROR, { code: "REFUSED", message: reason }).catch(() => {});
      control.close();
      return;
    }
    control.idleTimeoutMs = 3 * AGENT_PING_MS;
    if (hello.features.includes(AGENT_FEATURE)) {
      await this.#followAgent(hello, host, control, session);
    } else {
      control.idleTimeoutMs = 0; // a client may wait long for its job
      await this.#followClient(control, session);
    }
  }

  async #followAgent(hello: HelloMessage, host: string, control: FrameConn, session: ControlSession) {
    const id = hello.features.find((f) => f.startsWith(AGENT_ID_FEATURE)) ?? `${host}/${hello.name}`;
    const agent: AgentLink = {
      name: this.#nameFor(hello.name, id),
      id,
      host,
      port: hello.dataPort,
      control,
      session,
      since: performance.now(),
      jobs: new Set(),
    };
    this.#agents.get(agent.name)?.control.close(); // the same agent, back before its old link timed out
    this.#agents.set(agent.name, agent);
    control.peer = agent.name;
    this.#options.onEvent?.({ type: "agent-joined", name: agent.name, host, agents: this.#agents.size });
    let reason = "disconnected";
    try {
      await control.send(FrameType.AGENT, { kind: "welcome", name: agent.name });
      for (let m = await control.readMessage(); m !== null; m = await control.readMessage()) {
        if (m.type === FrameType.AGENT) await this.#fromAgent(agent, m.body);
      }
    } catch (error) {
      reason = describeError(error);
    } finally {
      control.close();
      if (this.#agents.get(agent.name) === agent) {
        this.#agents.delete(agent.name);
        this.#options.onEvent?.({ type: "agent-left", name: agent.name, reason, agents: this.#agents.size });
      }
      // its jobs can no longer say how they end (also when the agent is already back on a new connection)
      for (const id of agent.jobs) {
        const job = this.#jobs.get(id);
        if (job?.pending.has(agent.name)) await this.#ended(job, agent.name, null, `agent lost: ${reason}`);
      }
    }
  }

  /** `wanted`, or `wanted-2`, `-3`… when another agent holds it. */
  #nameFor(wanted: string, id: string): string {
    for (let n = 1;; n++) {
      const name = n === 1 ? wanted : `${wanted}-${n}`;
      const holder = this.#agents.get(name);
      if (holder === undefined || holder.id === id) return name;
    }
  }

  async #fromAgent(agent: AgentLink, message: AgentMessage): Promise<void> {
    if (message.kind !== "output" && message.kind !== "exit") return;
    const job = this.#jobs.get(message.job);
    if (job === undefined || !job.pending.has(agent.name)) return;
    if (message.kind === "output") {
      await job.client.send(FrameType.AGENT, { ...message, node: agent.name }).catch(() => {});
    } else {
      await this.#ended(job, agent.name, message.code, message.error);
    }
  }

  async #ended(job: HeadJob, node: string, code: number | null, error: string): Promise<void> {
    if (!job.pending.delete(node)) return;
    this.#agents.get(node)?.jobs.delete(job.id);
    await job.client.send(FrameType.AGENT, { kind: "exit", job: job.id, node, code, error }).catch(() => {});
    if (job.pending.size === 0) {
      this.#jobs.delete(job.id);
      await job.client.send(FrameType.AGENT, { kind: "done", job: job.id }).catch(() => {});
    }
  }

  async #followClient(control: FrameConn, session: ControlSession): Promise<void> {
    const mine = new Set<string>();
    try {
      await control.send(FrameType.AGENT, { kind: "welcome", name: control.peer });
      for (let m = await control.readMessage(); m !== null; m = await control.readMessage()) {
        if (m.type !== FrameType.AGENT) continue;
        const request = m.body;
        if (request.kind === "list") {
          await control.send(FrameType.AGENT, { kind: "agents", agents: this.agents() });
        } else if (request.kind === "run" || request.kind === "deploy" || request.kind === "gather") {
          mine.add(request.job);
          await this.#startJob(request, control, session);
        }
      }
    } catch (error) {
      log.debug("Client {peer} left: {reason}", { peer: control.peer, reason: describeError(error) });
    } finally {
      control.close();
      for (const id of mine) {
        const job = this.#jobs.get(id);
        if (job === undefined) continue;
        this.#jobs.delete(id);
        for (const name of job.pending) {
          const agent = this.#agents.get(name);
          agent?.jobs.delete(id);
          agent?.control.send(FrameType.AGENT, { kind: "cancel", job: id }).catch(() => {});
        }
      }
    }
  }

  async #startJob(request: JobRequest, client: FrameConn, session: ControlSession): Promise<void> {
    const started = performance.now();
    const wanted = request.nodes ?? [...this.#agents.keys()].sort(byName);
    const targets = wanted.flatMap((name) => {
      const agent = this.#agents.get(name);
      return agent ? [{ name, host: agent.host, port: agent.port, sealKey: agent.session.sealKey }] : [];
    });
    const missing = wanted.filter((name) => !this.#agents.has(name));
    const job: HeadJob = { id: request.job, client, pending: new Set(targets.map((t) => t.name)) };
    this.#jobs.set(job.id, job);
    const { plan, orders } = jobOrders(request, targets, missing, session.sealKey);
    await client.send(FrameType.AGENT, plan);
    // every agent's order at once, each on its own connection
    await Promise.all([...orders].map(async ([name, order]) => {
      const agent = this.#agents.get(name)!;
      agent.jobs.add(job.id);
      await agent.control.send(FrameType.AGENT, order).catch(async (error) => {
        await this.#ended(job, name, null, `could not reach the agent: ${describeError(error)}`);
      });
    }));
    this.#options.onEvent?.({
      type: "job",
      job: job.id,
      kind: request.kind,
      nodes: targets.length,
      missing: missing.length,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
    if (targets.length === 0) {
      this.#jobs.delete(job.id);
      await client.send(FrameType.AGENT, { kind: "done", job: job.id });
    }
  }
}

/** Why a HELLO is not one the head takes, or null. */
function helloRefusal(hello: HelloMessage): string | null {
  if (hello.version !== PROTOCOL_VERSION) {
    return `Protocol version ${hello.version} is not supported: this head speaks version ${PROTOCOL_VERSION}`;
  }
  if (!hello.features.includes(AGENT_FEATURE) && !hello.features.includes(CLIENT_FEATURE)) {
    return "This is kad head, for kad agent, kad run and kad gather: kad join talks to kad serve";
  }
  if (hello.nonce === "") return "kad head runs commands as root on its agents: it needs the join token";
  return null;
}

/**
 * Sends each message at once (TCP_NODELAY): agents' messages are small and come in bursts (a
 * job's output, then its exit), which Nagle's algorithm would hold for the peer's delayed ACK.
 */
export function noDelay<T extends Deno.Conn>(conn: T): T {
  if ("setNoDelay" in conn && typeof conn.setNoDelay === "function") conn.setNoDelay(true);
  return conn;
}

/** Node names in a natural order: node2 before node10. */
export function byName(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}
