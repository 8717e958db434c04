/**
 * A discrete-event simulation of a deployment, fast enough for 10 000 nodes: the real planner lays
 * out the topology and the real repair coordinator decides every repair; links, node speeds,
 * failures and the time repairs take are modelled.
 *
 * The model (a fluid one: the stream is a rate, not packets):
 * - Every port has `rateBps` in each direction; TCP/IP and framing leave `efficiency` of it for
 *   the stream. A node sends one copy per child, so a node with k children can feed each at most
 *   1/k of its port; the server likewise feeds its heads.
 * - Fan-outs wait for their slowest output (bounded windows), so the whole stream moves at the
 *   rate of its tightest node: min over live nodes of (its port / its children, its own speed).
 * - Each hop adds `hopDelaySeconds` (queueing and relaying); a node at depth d finishes d hops after
 *   the source's last byte.
 * - A hung node stops the stream (its upstream's window fills) until it is detected
 *   (`detectSeconds`), then the coordinator's repair takes `relinkSeconds` before its children
 *   stream again; a killed node is detected at once and only its subtree waits for the relink.
 * - Starting costs `startupSeconds` plus `linkSecondsPerLevel` per level of the topology.
 *
 * Pure and deterministic for a seed: no sockets, no timers.
 *
 * @module
 */

import type { WireError } from "../protocol/messages.ts";
import { RepairCoordinator } from "../server/repair_coordinator.ts";
import type { CoordinatorCommand } from "../server/repair_commands.ts";
import { type Plan, planTopology, SERVER_NAME } from "../topology/planner.ts";

/** What is simulated. */
export interface Scenario {
  /** Nodes. */
  nodes: number;
  /** Children per node. */
  fanout: number;
  /** Stream bytes. */
  bytes: number;
  /** Port rate in bits per second (each direction). */
  rateBps: number;
  /** Share of a port's rate the stream gets (TCP/IP headers, framing). */
  efficiency: number;
  /** Time added by each hop (queueing, relaying), seconds. */
  hopDelaySeconds: number;
  /** Fixed cost of a run before the first byte (processes, the plan), seconds. */
  startupSeconds: number;
  /** Cost of linking one level of the topology, seconds. */
  linkSecondsPerLevel: number;
  /** Share of the nodes that fail mid-stream (0–1). */
  failShare: number;
  /** How they fail: "hung" (stops the stream until detected) or "killed" (detected at once). */
  failKind: "hung" | "killed";
  /** How long a hung node takes to be detected, seconds. */
  detectSeconds: number;
  /** How long a repair takes once decided (connect, handshake, resend), seconds. */
  relinkSeconds: number;
  /** Share of the nodes that are slow (0–1), and their speed as a share of the port rate. */
  slowShare: number;
  /** A slow node's speed as a share of the port's stream rate. */
  slowSpeed: number;
  /** Seed of the random choices (which nodes fail or are slow, when they fail). */
  seed: number;
  /** Every process on one host, as on the netlab; absent for a real cluster (a machine per node). */
  sharedHost?: SharedHost | null;
}

/**
 * One host running the server and every node (the netlab): its cores bound the stream's rate, and
 * each process waits its turn for them at every hop.
 */
export interface SharedHost {
  /** CPU cores. */
  cores: number;
  /** CPU seconds each node process spends per GB of stream (the server's share folded in). */
  cpuSecondsPerGB: number;
  /** Seconds each process adds to the end of the run by waiting for a core. */
  waitSecondsPerProcess: number;
}

/** What a simulated run ends with. */
export interface SimulationResult {
  /** Seconds from the start to the last node verified. */
  seconds: number;
  /** Stream bits over (seconds × port rate). */
  efficiency: number;
  /** Repairs made, and those that failed. */
  repairs: number;
  /** Repairs that failed (their node failed). */
  failedRepairs: number;
  /** Nodes that failed. */
  failedNodes: number;
  /** Seconds from the source's last byte to the last node's. */
  worstLagSeconds: number;
  /** Depth of the planned topology. */
  depth: number;
  /** Seconds the stream stood still (hung nodes not yet detected, repairs). */
  stalledSeconds: number;
}

interface Failure {
  node: string;
  /** Stream position (share of the bytes) at which it fails. */
  at: number;
}

/** Runs one scenario. */
export function simulate(scenario: Scenario): SimulationResult {
  const random = mulberry32(scenario.seed);
  const names = Array.from({ length: scenario.nodes }, (_, i) => `n${i + 1}`);
  const plan = planTopology(names.map((name, joinIndex) => ({ name, joinIndex })), {
    fanout: scenario.fanout,
    order: "join",
  });
  const coordinator = new RepairCoordinator(plan, {
    abortOnNodeFailure: false,
    relinkGraceMs: 1000,
    newKey: () => null,
  });
  const portRate = scenario.rateBps / 8 * scenario.efficiency; // stream bytes per second per port
  const slow = new Set(pick(names, scenario.slowShare, random));
  const failures: Failure[] = pick(names, scenario.failShare, random)
    .map((node) => ({ node, at: random() }))
    .sort((a, b) => a.at - b.at);
  const failed = new Set<string>();
  /** Extra seconds each node finishes late: its subtree waited for a relink. */
  const late = new Map<string, number>();
  let stalled = 0;
  let repairs = 0;
  let failedRepairs = 0;

  const capacity = (node: string): number => {
    const children = coordinator.topology.childrenOf(node).filter((c) => !failed.has(c)).length;
    const uplink = children === 0 ? Infinity : portRate / children;
    const speed = slow.has(node) ? portRate * scenario.slowSpeed : portRate;
    return Math.min(uplink, speed, node === SERVER_NAME ? Infinity : portRate);
  };
  const host = scenario.sharedHost ?? null;
  const streamRate = (): number => {
    let rate = capacity(SERVER_NAME);
    for (const name of names) if (!failed.has(name)) rate = Math.min(rate, capacity(name));
    if (host !== null) {
      const live = names.length - failed.size;
      rate = Math.min(rate, (host.cores * 1e9) / (live * host.cpuSecondsPerGB));
    }
    return rate;
  };
  /** Carries out the coordinator's commands at `nowMs`: every adoption it asks for is made. */
  const carryOut = (commands: CoordinatorCommand[], nowMs: number): void => {
    for (const command of commands) {
      if (command.type === "repaired") {
        repairs++;
        if (command.repair.error) failedRepairs++;
      }
      if (command.type === "fail-node") failed.add(command.node);
      const adopted = command.type === "drop" || command.type === "server-adopt" ? command.adopt : [];
      const by = command.type === "drop" ? command.to : SERVER_NAME;
      const doneMs = nowMs + scenario.relinkSeconds * 1000;
      for (const { child } of adopted) {
        carryOut(coordinator.handle({ type: "adopted", by, child, offset: 0, resent: 0 }, doneMs), doneMs);
      }
    }
  };

  const depthOf = depths(plan);
  let time = scenario.startupSeconds + scenario.linkSecondsPerLevel * Math.max(...depthOf.values(), 1);
  let sent = 0;
  for (const failure of failures) {
    const target = failure.at * scenario.bytes;
    time += (target - sent) / streamRate();
    sent = target;
    failed.add(failure.node);
    const hung = scenario.failKind === "hung";
    const reason: WireError = { code: hung ? "TIMEOUT" : "NNF", message: "simulated" };
    if (hung) {
      // the stream stands still until the node is found out, then until its children are relinked
      time += scenario.detectSeconds;
      stalled += scenario.detectSeconds + scenario.relinkSeconds;
    } else {
      for (const child of subtree(coordinator, failure.node)) {
        late.set(child, (late.get(child) ?? 0) + scenario.relinkSeconds);
      }
    }
    carryOut(coordinator.handle({ type: "node-lost", node: failure.node, reason }, time * 1000), time * 1000);
    if (hung) time += scenario.relinkSeconds;
  }
  time += (scenario.bytes - sent) / streamRate();
  if (host !== null) time += (names.length - failed.size) * host.waitSecondsPerProcess;
  const sourceEnd = time;
  let last = sourceEnd;
  for (const [name, depth] of liveDepths(coordinator)) {
    if (failed.has(name)) continue;
    last = Math.max(last, sourceEnd + depth * scenario.hopDelaySeconds + (late.get(name) ?? 0));
  }
  return {
    seconds: last,
    efficiency: (scenario.bytes * 8) / (last * scenario.rateBps),
    repairs,
    failedRepairs,
    failedNodes: failed.size,
    worstLagSeconds: last - sourceEnd,
    depth: Math.max(...depthOf.values(), 0),
    stalledSeconds: stalled,
  };
}

/** Depth of every planned node (1 for the heads). */
function depths(plan: Plan): Map<string, number> {
  const depth = new Map<string, number>();
  for (const node of plan.nodes) {
    depth.set(node.name, node.upstream === SERVER_NAME ? 1 : depth.get(node.upstream)! + 1);
  }
  return depth;
}

/** Every node's depth in the live topology (after repairs), from the server down. */
function liveDepths(coordinator: RepairCoordinator): Map<string, number> {
  const depth = new Map<string, number>();
  const pending: [string, number][] = coordinator.topology.childrenOf(SERVER_NAME).map((c) => [c, 1]);
  while (pending.length > 0) {
    const [node, d] = pending.pop()!;
    depth.set(node, d);
    for (const child of coordinator.topology.childrenOf(node)) pending.push([child, d + 1]);
  }
  return depth;
}

/** The live nodes below `node`. */
function subtree(coordinator: RepairCoordinator, node: string): string[] {
  const out: string[] = [];
  const pending = [...coordinator.topology.childrenOf(node)];
  while (pending.length > 0) {
    const next = pending.pop()!;
    out.push(next);
    pending.push(...coordinator.topology.childrenOf(next));
  }
  return out;
}

/** `share` of `names`, chosen at random. */
function pick(names: string[], share: number, random: () => number): string[] {
  const count = Math.round(names.length * share);
  const chosen = new Set<string>();
  while (chosen.size < count) chosen.add(names[Math.floor(random() * names.length)]);
  return [...chosen];
}

/** A small seeded PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    let t = (state += 0x6d2b79f5);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
