/**
 * A client of the head (`kad run`, `kad gather`, `kad serve --launch agents`): an authenticated
 * connection that asks for the agents or hands them a job, and hears the job's plan, each node's
 * output and end.
 *
 * @module
 */

import { KadError, ProtocolError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import { type AgentInfo, type AgentMessage, CLIENT_FEATURE } from "../protocol/agent_messages.ts";
import { connectTo } from "../relay/data_link.ts";
import { proveToServer } from "../security/control_handshake.ts";
import { tokenKey } from "../security/join_token.ts";
import { randomNonce } from "../security/key_derivation.ts";
import type { JobRequest } from "./job_orders.ts";
import { noDelay } from "./head.ts";

/** A job's plan as the head made it. */
export type JobPlan = Extract<AgentMessage, { kind: "plan" }>;
/** Lines a node's command wrote. */
export type JobOutput = Extract<AgentMessage, { kind: "output" }>;
/** A node's end in a job. */
export type JobExit = Extract<AgentMessage, { kind: "exit" }>;
export type { JobRequest } from "./job_orders.ts";

/** What a client hears of its job. */
export interface JobListener {
  /** The job's plan, first. */
  plan?(plan: JobPlan): void | Promise<void>;
  /** Lines a node's command wrote. */
  output?(output: JobOutput): void;
  /** A node's end. */
  exit?(exit: JobExit): void;
}

/** A connection to the head. */
export class HeadClient {
  readonly #control: FrameConn;
  /** Opens keys the head seals for this client (a gather's key). */
  readonly sealKey: Uint8Array;

  private constructor(control: FrameConn, sealKey: Uint8Array) {
    this.#control = control;
    this.sealKey = sealKey;
  }

  /**
   * Connects and proves the token (the head proves it first).
   * @throws {KadError} NNF when the head cannot be reached, AUTH on another token.
   */
  static async connect(
    head: { host: string; port: number },
    token: string,
    name: string,
    timeoutMs: number,
  ): Promise<HeadClient> {
    const peer = "kad head";
    const control = new FrameConn(noDelay(await connectTo(head, peer, timeoutMs)), {
      peer,
      idleTimeoutMs: timeoutMs,
    });
    try {
      const nonce = randomNonce();
      await control.send(FrameType.HELLO, {
        version: PROTOCOL_VERSION,
        name,
        dataHost: "",
        dataPort: 0,
        sink: "client",
        features: [CLIENT_FEATURE],
        nonce,
        phases: [],
        labels: {},
        resume: null,
      });
      const session = await proveToServer(control, tokenKey(token), name, nonce);
      const welcome = await control.expect(FrameType.AGENT);
      if (welcome.kind !== "welcome") throw new ProtocolError(`The head said ${welcome.kind} before welcome`);
      control.idleTimeoutMs = 0; // a job may be quiet for long
      return new HeadClient(control, session.sealKey);
    } catch (error) {
      control.close();
      throw error;
    }
  }

  /** The agents connected to the head now. */
  async agents(): Promise<AgentInfo[]> {
    await this.#control.send(FrameType.AGENT, { kind: "list" });
    const reply = await this.#next();
    if (reply.kind !== "agents") throw new ProtocolError(`The head answered ${reply.kind} to list`);
    return reply.agents;
  }

  /** Hands `request` to the head; resolves once every node of the job has ended. */
  async run(request: JobRequest, listener: JobListener): Promise<void> {
    await this.#control.send(FrameType.AGENT, request);
    for (;;) {
      const message = await this.#next();
      if (!("job" in message) || message.job !== request.job) continue;
      if (message.kind === "plan") await listener.plan?.(message);
      else if (message.kind === "output") listener.output?.(message);
      else if (message.kind === "exit") listener.exit?.(message);
      else if (message.kind === "done") return;
    }
  }

  /** Closes the connection: the head stops the job's commands still running. */
  close(): void {
    this.#control.close();
  }

  async #next(): Promise<AgentMessage> {
    for (;;) {
      const message = await this.#control.readMessage();
      if (message === null) throw new KadError("NRF", "The head closed the connection");
      if (message.type === FrameType.ERROR || message.type === FrameType.ABORT) {
        throw new KadError(message.body.code, message.body.message);
      }
      if (message.type === FrameType.AGENT) return message.body;
    }
  }
}
