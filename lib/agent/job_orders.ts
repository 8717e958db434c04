/**
 * What the head tells the client and each agent for one job: the plan (who takes part, who is not
 * connected, a gather's root children and key) and every agent's order — its command, its
 * deployment, or its part of a gather (its parent's gather listener, its children, the job's key
 * sealed under that agent's own session).
 *
 * @module
 */

import type { AgentMessage } from "../protocol/agent_messages.ts";
import { randomKey } from "../security/key_derivation.ts";
import { sealKey } from "../security/sealed_key.ts";
import { gatherKeyContext } from "../gather/gather_link.ts";
import { gatherTree } from "../gather/gather_tree.ts";

/** A job a client asks for. */
export type JobRequest = Extract<AgentMessage, { kind: "run" | "deploy" | "gather" }>;

/** A connected agent as its orders need it. */
export interface OrderTarget {
  /** Its name at the head. */
  name: string;
  /** Where its gather listener is: the address the head sees it at, and its HELLO's data port. */
  host: string;
  port: number;
  /** Its control session's seal key. */
  sealKey: Uint8Array;
}

/** The plan for the client and each target's order. */
export interface JobOrders {
  /** For the client. */
  plan: Extract<AgentMessage, { kind: "plan" }>;
  /** By agent name. */
  orders: Map<string, AgentMessage>;
}

/** The orders of `request` for `targets` (in order); `missing`: the names asked for that are not connected. */
export function jobOrders(
  request: JobRequest,
  targets: readonly OrderTarget[],
  missing: string[],
  clientSealKey: Uint8Array,
): JobOrders {
  const names = targets.map((t) => t.name);
  const plan = {
    kind: "plan" as const,
    job: request.job,
    nodes: names,
    missing,
    children: [] as string[],
    key: "",
  };
  const orders = new Map<string, AgentMessage>();
  if (request.kind !== "gather") {
    for (const name of names) {
      orders.set(
        name,
        request.kind === "run"
          ? { kind: "exec", job: request.job, command: request.command }
          : { ...request, nodes: null },
      );
    }
    return { plan, orders };
  }
  const tree = gatherTree(names, request.merge === null ? Infinity : request.fanout);
  const key = randomKey();
  const context = gatherKeyContext(request.job);
  const byName = new Map(targets.map((t) => [t.name, t]));
  for (const target of targets) {
    const parent = byName.get(tree.parentOf.get(target.name) ?? "");
    orders.set(target.name, {
      kind: "gather-job",
      job: request.job,
      key: sealKey(target.sealKey, key, context),
      // "" is the head's host, as the agent reaches it: the client listens there
      parent: parent ? { host: parent.host, port: parent.port } : { host: "", port: request.port },
      children: tree.childrenOf.get(target.name)!,
      source: request.source,
      merge: request.merge,
    });
  }
  return {
    plan: { ...plan, children: tree.rootChildren, key: sealKey(clientSealKey, key, context) },
    orders,
  };
}
