/**
 * The server's repair decisions as a pure state machine that owns the live topology and every link's key:
 * events in (node or upstream link lost, adoption made or failed, report, stream failed, time), commands
 * out (repair_commands.ts). No sockets, no timers: the server carries them out, the simulator too.
 *
 * The rules:
 * - A node lost mid-stream (vanished, hung, unreachable, or out early with children behind it) is
 *   taken out; its children move under its nearest ancestor still streaming (the server at the
 *   top), which links to each and resends what it lacks. Its own upstream stops feeding it.
 * - A node whose upstream link broke while both ends live is relinked after a grace period, unless
 *   the upstream is lost in the meantime (then the rule above applies).
 * - An adoption a node could not make falls back to the server, which feeds the child from its
 *   ring or by re-reading a seekable source; when even that fails, the child fails (GAP or NRF).
 * - A node that finishes before feeding a child it was asked to adopt hands that child on.
 * - With `abortOnNodeFailure`, the first failure aborts the whole deployment instead.
 * - A node that joins late is grafted under the server, which feeds it from the stream's first byte.
 * - A node that holds the chain back (slow_nodes.ts) leaves its place as a lost one would, but
 *   stays: the server feeds it from its source read again, at its own pace, once per node.
 *
 * @module
 */

import type { WireError } from "../protocol/messages.ts";
import type { RepairRecord } from "../report/report.ts";
import { LiveTopology } from "../topology/live_topology.ts";
import { type Plan, SERVER_NAME } from "../topology/planner.ts";
import type { Adoption, CoordinatorCommand, CoordinatorEvent } from "./repair_commands.ts";
import { RepairLog } from "./repair_log.ts";

/** Options of a {@link RepairCoordinator}. */
export interface RepairCoordinatorOptions {
  /** The first node failure aborts the deployment (`--abort-on-node-failure`). */
  abortOnNodeFailure: boolean;
  /** How long a node whose upstream link broke waits before being relinked to the same upstream. */
  relinkGraceMs: number;
  /** A fresh key for a data link, or null on an unauthenticated deployment. */
  newKey: () => Uint8Array | null;
}

interface Relink {
  child: string;
  upstream: string;
  reason: WireError;
  at: number;
}

/** Decides repairs for one deployment. */
export class RepairCoordinator {
  readonly #options: RepairCoordinatorOptions;
  readonly #live: LiveTopology;
  readonly #keys = new Map<string, Uint8Array | null>();
  /** Nodes that reported or were lost: they can no longer feed anyone. */
  readonly #finished = new Set<string>();
  /** Each node's upstream: the planned one, then the one the last repair gave it. */
  readonly #upstream = new Map<string, string>();
  readonly #log = new RepairLog();
  readonly #relinks: Relink[] = [];
  /** Slow nodes moved off the chain: each is moved once. */
  readonly #moved = new Set<string>();
  #failed = false;
  #aborted = false;

  /** Starts from the plan, with a fresh key for every planned link. */
  constructor(plan: Plan, options: RepairCoordinatorOptions) {
    this.#options = options;
    this.#live = new LiveTopology(plan);
    for (const node of plan.nodes) {
      this.#keys.set(linkId(node.upstream, node.name), options.newKey());
      this.#upstream.set(node.name, node.upstream);
    }
  }

  /** The key of the data link `from` → `to` (planned or assigned); null when unauthenticated. */
  linkKey(from: string, to: string): Uint8Array | null {
    return this.#keys.get(linkId(from, to)) ?? null;
  }

  /** `node`'s upstream: the planned one, or the one its last repair gave it. */
  upstreamOf(node: string): string | undefined {
    return this.#upstream.get(node);
  }

  /** Every repair decided and ended so far, in order. */
  get repairs(): readonly RepairRecord[] {
    return this.#log.records;
  }

  /** The live topology (read-only use). */
  get topology(): LiveTopology {
    return this.#live;
  }

  /** Takes in one event at time `now` (ms) and returns what to do, in order. */
  handle(event: CoordinatorEvent, now: number): CoordinatorCommand[] {
    const out: CoordinatorCommand[] = [];
    switch (event.type) {
      case "node-lost":
        this.#finished.add(event.node);
        this.#repairAround(event.node, event.reason, now, out);
        break;
      case "upstream-lost":
        this.#upstreamLost(event, now, out);
        break;
      case "adopted":
        this.#adopted(event, now, out);
        break;
      case "adopt-failed":
        this.#adoptFailed(event.child, event.by, event.reason, event.offset, now, out);
        break;
      case "slow":
        this.#moveSlow(event.node, event.reason, now, out);
        break;
      case "joined-late":
        this.#graft(event.node, event.rejoin ?? false, now, out);
        break;
      case "reported":
        this.#reported(event.node, event.error, now, out);
        break;
      case "stream-failed":
        this.#failed = true;
        break;
      case "tick":
        this.#tick(now, out);
        break;
    }
    return out;
  }

  /** True while a repair is worth making: the stream has not failed and nothing aborted it. */
  get #repairing(): boolean {
    return !this.#failed && !this.#aborted;
  }

  #canFeed = (node: string): boolean => node === SERVER_NAME || !this.#finished.has(node);

  /** `node` when it can feed adopted children, else its nearest ancestor that can. */
  #feederFrom(node: string): string {
    return this.#canFeed(node) ? node : this.#live.feederFor(node, this.#canFeed);
  }

  #repairAround(name: string, reason: WireError, now: number, out: CoordinatorCommand[]): void {
    if (!this.#live.has(name)) return;
    out.push({ type: "lost", node: name, reason });
    this.#log.drop(name);
    if (this.#options.abortOnNodeFailure) return this.#abort(name, reason, out);
    if (this.#repairing) this.#takeOut(name, reason, now, out);
  }

  /** Takes `name` out of the topology: its children move under the nearest feeder, its upstream drops it. */
  #takeOut(name: string, reason: WireError, now: number, out: CoordinatorCommand[]): void {
    const removed = this.#live.remove(name)!;
    const feeder = this.#feederFrom(removed.parent);
    for (const child of removed.children) this.#assign(child, feeder, name, now, out);
    const adopt = removed.children.map((child) => this.#adoption(feeder, child));
    if (removed.parent === SERVER_NAME) out.push({ type: "server-drop", node: name, reason });
    else {
      out.push({
        type: "drop",
        to: removed.parent,
        node: name,
        reason,
        adopt: feeder === removed.parent ? adopt : [],
      });
    }
    if (feeder === SERVER_NAME) out.push({ type: "server-adopt", adopt, released: name });
    else if (feeder !== removed.parent) out.push({ type: "drop", to: feeder, node: name, reason, adopt });
  }

  /** A slow node leaves its place; the server feeds it from the source read again (once per node). */
  #moveSlow(name: string, reason: WireError, now: number, out: CoordinatorCommand[]): void {
    const from = this.#live.parentOf(name);
    if (from === undefined || this.#moved.has(name) || this.#finished.has(name) || !this.#repairing) return;
    if (this.#log.pendingOf(name)) return; // being repaired already
    this.#moved.add(name);
    out.push({ type: "moved", node: name, from, reason });
    // it stays: it stops feeding its children (and holding bytes for them) as they move
    for (const child of this.#live.childrenOf(name)) {
      out.push({ type: "drop", to: name, node: child, reason, adopt: [] });
    }
    this.#takeOut(name, reason, now, out);
    this.#assign(name, SERVER_NAME, `${from}→${name}`, now, out);
    out.push({
      type: "server-adopt",
      adopt: [{ ...this.#adoption(SERVER_NAME, name), fromHistory: true }],
      released: "",
    });
  }

  /** Moves `child` under `feeder` and tells it; a repair handed on keeps the time it was first decided. */
  #assign(child: string, feeder: string, failed: string, startedAt: number, out: CoordinatorCommand[]): void {
    this.#live.move(child, feeder);
    this.#upstream.set(child, feeder);
    this.#log.open(child, { failed, upstream: feeder, startedAt, graft: false });
    const key = this.#options.newKey();
    this.#keys.set(linkId(feeder, child), key);
    out.push({ type: "new-upstream", to: child, upstream: feeder, key });
  }

  /**
   * A late joiner, or a lost member come back (a repair of itself, recorded as one): the server
   * feeds it, from its ring or its source read again.
   */
  #graft(node: string, rejoin: boolean, now: number, out: CoordinatorCommand[]): void {
    if (this.#live.has(node) || !this.#repairing) return;
    this.#assign(node, SERVER_NAME, "", now, []); // its PLAN names its upstream
    this.#log.open(node, {
      failed: rejoin ? node : "",
      upstream: SERVER_NAME,
      startedAt: now,
      graft: !rejoin,
    });
    out.push({ type: "server-adopt", adopt: [this.#adoption(SERVER_NAME, node)], released: "" });
  }

  #adoption(feeder: string, child: string): Adoption {
    return { child, key: this.linkKey(feeder, child) };
  }

  #adopted(
    event: Extract<CoordinatorEvent, { type: "adopted" }>,
    now: number,
    out: CoordinatorCommand[],
  ): void {
    if (!this.#log.pendingFrom(event.child, event.by)) return;
    out.push(this.#log.close(event.child, { offset: event.offset, resent: event.resent, error: null }, now)!);
  }

  /** An adoption failed: the server tries itself; when even it cannot, the child fails. */
  #adoptFailed(
    child: string,
    by: string,
    reason: WireError,
    offset: number | null,
    now: number,
    out: CoordinatorCommand[],
  ): void {
    const pending = this.#log.pendingFrom(child, by);
    if (!pending) return;
    if (by !== SERVER_NAME && this.#repairing) {
      this.#assign(child, SERVER_NAME, pending.failed, pending.startedAt, out);
      out.push({ type: "server-adopt", adopt: [this.#adoption(SERVER_NAME, child)], released: "" });
      return;
    }
    out.push(this.#log.close(child, { offset, resent: 0, error: reason }, now)!);
    const what = pending.graft ? "Feeding this late joiner" : `Repair after ${pending.failed}`;
    out.push({
      type: "fail-node",
      node: child,
      code: reason.code === "GAP" ? "GAP" : "NRF",
      message: `${what} failed: ${reason.message}`,
    });
  }

  /** A node's link from its upstream broke. Unless that upstream is failing anyway, relink them soon. */
  #upstreamLost(
    event: Extract<CoordinatorEvent, { type: "upstream-lost" }>,
    now: number,
    out: CoordinatorCommand[],
  ) {
    if (!this.#repairing || this.#live.parentOf(event.node) !== event.upstream) return;
    const at = now + this.#options.relinkGraceMs;
    this.#relinks.push({ child: event.node, upstream: event.upstream, reason: event.reason, at });
    out.push({ type: "wake", at });
  }

  #tick(now: number, out: CoordinatorCommand[]): void {
    // a timer may fire a hair before its time: what is not due yet asks to be woken again
    const later = this.#relinks.filter((r) => r.at > now);
    if (later.length > 0) out.push({ type: "wake", at: Math.min(...later.map((r) => r.at)) });
    for (const relink of this.#relinks.filter((r) => r.at <= now)) {
      this.#relinks.splice(this.#relinks.indexOf(relink), 1);
      const { child, upstream, reason } = relink;
      if (!this.#repairing || this.#live.parentOf(child) !== upstream) continue;
      const feeder = this.#feederFrom(upstream);
      this.#assign(child, feeder, `${upstream}→${child}`, now, out);
      const adopt = [this.#adoption(feeder, child)];
      if (feeder === SERVER_NAME) {
        out.push({ type: "server-drop", node: child, reason });
        out.push({ type: "server-adopt", adopt, released: "" });
      } else {
        out.push({ type: "drop", to: feeder, node: child, reason, adopt });
      }
    }
  }

  /** A node's final word; adoptions it was asked for and never answered fall back to the server. */
  #reported(name: string, error: WireError | null, now: number, out: CoordinatorCommand[]): void {
    this.#finished.add(name);
    if (error !== null && this.#options.abortOnNodeFailure) this.#abort(name, error, out);
    const own = error === null ? null : this.#log.close(name, { offset: null, resent: 0, error }, now);
    if (own) out.push(own); // it gave up waiting for its new upstream
    for (const child of this.#log.waitingOn(name)) {
      this.#adoptFailed(
        child,
        name,
        { code: "NNF", message: `${name} finished before feeding ${child}` },
        null,
        now,
        out,
      );
    }
    // a node that ends early (its sink failed under --abort-on-sink-error, a GAP) leaves children behind
    if (error !== null && this.#live.childrenOf(name).length > 0) this.#repairAround(name, error, now, out);
  }

  /** `abortOnNodeFailure`: one node failed, so the whole run stops (once). */
  #abort(name: string, reason: WireError, out: CoordinatorCommand[]): void {
    if (this.#aborted || this.#failed) return;
    this.#aborted = true;
    out.push({
      type: "abort",
      reason: {
        code: "ABORT",
        message:
          `Node ${name} failed (${reason.code}: ${reason.message}); aborting (--abort-on-node-failure)`,
      },
    });
  }
}

/** Key of the link `from` → `to` in the coordinator's table. */
function linkId(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
