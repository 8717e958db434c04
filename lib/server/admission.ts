/**
 * Admission: the server's side of a node's introduction (HELLO, the token handshake, the TLS data
 * certificate, ACCEPT), with the limits that keep idle, trickling or flooding peers from keeping
 * real nodes out.
 *
 * - One deadline per introduction (`connectTimeoutMs`), however slowly the peer trickles.
 * - At most {@link MAX_INTRODUCING} connections in their introduction, and at most
 *   {@link MAX_INTRODUCING_PER_ADDRESS} from one address: a flooding address only ever pushes out
 *   its own connections, never another address's.
 * - The connection dropped to make room is the oldest that has not said HELLO yet — of the same
 *   address when it is full, else of the address holding the most. A peer that progresses (said
 *   HELLO) is never dropped for a newcomer: when all of a full address's connections progress, the
 *   newcomer is closed (and a node retries).
 * - Refusals are told to the server's operator rate-limited (refusal_notices.ts).
 *
 * Whether an introduced node may join (the name, the start) is the deployment's decision:
 * {@link AdmissionOptions.decide} makes it synchronously, so two nodes never get the same name.
 *
 * @module
 */

import { AuthError, describeError, type ErrorCode } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import type { ServerTls } from "../net/tls.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import type { AcceptMessage, HelloMessage } from "../protocol/messages.ts";
import { challengeNode } from "../security/control_handshake.ts";
import type { NodeSession } from "./node_session.ts";
import { type Refusal, RefusalNotices } from "./refusal_notices.ts";

export type { Refusal } from "./refusal_notices.ts";
import { logger } from "../log.ts";

const log = logger("admission");

/** Connections that may be in their introduction at once. */
export const MAX_INTRODUCING = 128;
/** Connections one address may have in their introduction at once. */
export const MAX_INTRODUCING_PER_ADDRESS = 32;

/** A node that proved the token (or joined an `--insecure` server) and waits for the decision. */
export interface Introduction {
  /** What it said. */
  hello: HelloMessage;
  /** The address it connects from. */
  remote: Deno.NetAddr;
  /** Its control connection, authenticated. */
  control: FrameConn;
  /** Seals the link keys sent to it; null when unauthenticated. */
  sealKey: Uint8Array | null;
  /** The port of its data listener. */
  dataPort: number;
}

/** The deployment's answer to an {@link Introduction}. */
export type AdmissionDecision =
  | { session: NodeSession; accept: AcceptMessage }
  | { refuse: ErrorCode; message: string };

/** Options of an {@link Admission}. */
export interface AdmissionOptions {
  /** The join token's key; null on an `--insecure` server. */
  tokenKey: Uint8Array | null;
  /** TLS material handed to nodes for their data listeners, on `--tls`. */
  tls: ServerTls | null;
  /** The limit on a whole introduction, in milliseconds. */
  connectTimeoutMs: number;
  /** Decides on an introduced node; registers it when it is admitted. Must not wait. */
  decide(introduction: Introduction): AdmissionDecision;
  /** Follows an admitted node after ACCEPT, until the server is through with it. */
  follow(session: NodeSession): Promise<void>;
  /** Told of refusals, rate-limited per address. */
  onRefused?(refusal: Refusal): void;
}

/** A connection in its introduction. */
interface Introducing {
  control: FrameConn;
  address: string;
  /** True once it said HELLO: it is progressing. */
  greeted: boolean;
}

/** Accepts connections on the control port and introduces nodes. */
export class Admission {
  readonly #listener: Deno.Listener;
  readonly #options: AdmissionOptions;
  /** By address, oldest first. */
  readonly #introducing = new Map<string, Introducing[]>();
  #count = 0;
  readonly #tasks = new Set<Promise<void>>();
  readonly #notices = new RefusalNotices();
  readonly #loop: Promise<void>;

  /** Starts accepting on `listener`. */
  constructor(listener: Deno.Listener, options: AdmissionOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#loop = this.#accept();
  }

  /** Stops accepting and closes the connections still in their introduction. */
  stop(): void {
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const list of this.#introducing.values()) for (const c of list) c.control.close();
  }

  /** Waits for the accept loop and every node followed to end (call {@link stop} first). */
  async settled(): Promise<void> {
    await this.#loop;
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      const task = this.#introduce(conn).catch(() => {});
      this.#tasks.add(task);
      task.finally(() => this.#tasks.delete(task));
    }
  }

  /** Makes room for a connection from `address`; false when there is none to be had. */
  #makeRoom(address: string): boolean {
    const own = this.#introducing.get(address) ?? [];
    if (own.length >= MAX_INTRODUCING_PER_ADDRESS) {
      const victim = own.find((c) => !c.greeted);
      if (victim === undefined) return false;
      this.#drop(
        victim,
        `more than ${MAX_INTRODUCING_PER_ADDRESS} connections from ${address} in their introduction`,
      );
      return true;
    }
    if (this.#count < MAX_INTRODUCING) return true;
    let busiest: Introducing[] = [];
    for (const list of this.#introducing.values()) if (list.length > busiest.length) busiest = list;
    this.#drop(
      busiest.find((c) => !c.greeted) ?? busiest[0],
      `more than ${MAX_INTRODUCING} connections in their introduction`,
    );
    return true;
  }

  #drop(victim: Introducing, reason: string): void {
    this.#forget(victim);
    victim.control.close();
    this.#refused("", victim.address, "FLOOD", reason);
  }

  #forget(entry: Introducing): void {
    const list = this.#introducing.get(entry.address);
    const at = list?.indexOf(entry) ?? -1;
    if (list === undefined || at < 0) return;
    list.splice(at, 1);
    this.#count--;
    if (list.length === 0) this.#introducing.delete(entry.address);
  }

  async #introduce(raw: Deno.Conn): Promise<void> {
    const remote = raw.remoteAddr as Deno.NetAddr;
    const address = remote.hostname;
    if (!this.#makeRoom(address)) {
      raw.close();
      this.#refused(
        "",
        address,
        "FLOOD",
        `more than ${MAX_INTRODUCING_PER_ADDRESS} connections from ${address} in their introduction`,
      );
      return;
    }
    const limitMs = this.#options.connectTimeoutMs;
    const control = new FrameConn(raw, { peer: `node at ${address}`, idleTimeoutMs: limitMs });
    const entry: Introducing = { control, address, greeted: false };
    const list = this.#introducing.get(address) ?? [];
    list.push(entry);
    this.#introducing.set(address, list);
    this.#count++;
    const deadline = setTimeout(() => control.close(), limitMs);
    let session: NodeSession | null;
    try {
      session = await this.#handshake(entry, remote);
    } finally {
      clearTimeout(deadline);
      this.#forget(entry);
    }
    if (session !== null) await this.#options.follow(session);
  }

  /** HELLO, the token, the data certificate, the decision and ACCEPT; null when refused. */
  async #handshake(entry: Introducing, remote: Deno.NetAddr): Promise<NodeSession | null> {
    const { control } = entry;
    let hello: HelloMessage;
    try {
      hello = await control.expect(FrameType.HELLO);
    } catch (error) {
      await control.send(FrameType.ERROR, { code: "PROTO", message: describeError(error) }).catch(() => {});
      control.close();
      return null;
    }
    entry.greeted = true;
    const refuse = async (code: ErrorCode, message: string) => {
      this.#refused(hello.name, entry.address, code, message);
      await control.send(FrameType.ERROR, { code, message }).catch(() => {});
      control.close();
      return null;
    };
    if (hello.version !== PROTOCOL_VERSION) {
      return await refuse(
        "PROTO",
        `Protocol version ${hello.version} is not supported: this server speaks version ${PROTOCOL_VERSION}`,
      );
    }
    let sealKey: Uint8Array | null = null;
    const tokenKey = this.#options.tokenKey;
    if (tokenKey === null) {
      if (hello.nonce !== "") {
        return await refuse("AUTH", "This server runs --insecure: join it with --insecure, without a token");
      }
    } else if (hello.nonce === "") {
      return await refuse(
        "AUTH",
        "This server requires a join token: give the node --token, --token-file or KAD_TOKEN",
      );
    } else {
      try {
        sealKey = (await challengeNode(control, tokenKey, hello)).sealKey;
      } catch (error) {
        return await refuse("AUTH", error instanceof AuthError ? error.message : describeError(error));
      }
    }
    if (control.closed) return null;
    let dataPort = hello.dataPort;
    const tls = this.#options.tls;
    if (tls) {
      try {
        await control.send(FrameType.TLS_LINK_CERT, { cert: tls.cert, key: tls.key });
        dataPort = (await control.expect(FrameType.DATA_PORT)).port;
      } catch (error) {
        return await refuse("PROTO", describeError(error));
      }
    } else if (dataPort === 0) {
      return await refuse("PROTO", "The node announced no data port (it runs --tls; this server does not)");
    }
    if (control.closed) return null;
    const decision = this.#options.decide({ hello, remote, control, sealKey, dataPort });
    if ("refuse" in decision) return await refuse(decision.refuse, decision.message);
    log.debug("Accepted {name} from {address} as #{index}", {
      name: decision.accept.name,
      address: entry.address,
      index: decision.accept.joinIndex + 1,
    });
    control.peer = decision.accept.name;
    control.idleTimeoutMs = 0;
    await control.send(FrameType.ACCEPT, decision.accept);
    return decision.session;
  }

  /** Tells the operator of a refusal, rate-limited (see refusal_notices.ts). */
  #refused(name: string, address: string, code: Refusal["code"], reason: string): void {
    log.debug("Refused {name} from {address} ({code}): {reason}", {
      name: name || "a connection",
      address,
      code,
      reason,
    });
    const notice = this.#notices.note({ name, address, code, reason }, performance.now());
    if (notice !== null) this.#options.onRefused?.(notice);
  }
}
