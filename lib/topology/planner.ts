/**
 * The planner: turns the nodes that joined into a chain or a K-ary tree fed by the server.
 *
 * Positions count from 1, the same everywhere (reports, a node's console, `KAD_POSITION`): the
 * nodes the server feeds come first. They are heap order: position `p` is fed by position
 * `ceil(p / K) - 1`, or by the server when that is 0. With K = 1 this is the chain
 * server → 1 → 2 → … → N. When nodes say their rack, each rack gets its own chain (or tree) fed by
 * the server — nettee's forked chain — so a slow link between switches is crossed once per rack, not
 * at every hop that happens to change rack; racks come in the order their first node joined, nodes
 * without a rack form one more group. The planner is pure, so re-planning around a failed node or
 * moving a slow node to the tail is a new call.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** Name of the server as an upstream in plans. */
export const SERVER_NAME = "server";

/** Largest supported fan-out. */
export const MAX_FANOUT = 8;

/** A node as known to the planner. */
export interface PlanInput {
  /** Unique name. */
  name: string;
  /** Order of joining, from 0. */
  joinIndex: number;
  /** Its rack (`kad join --label rack=R`, or the server's `--nodes-file`); absent when unknown. */
  rack?: string;
}

/** How to order the nodes in the topology. */
export type PlanOrder = "join" | "name";

/** Planner options. */
export interface PlanOptions {
  /** Children per node: 1 for a chain, up to {@link MAX_FANOUT}. */
  fanout: number;
  /** Order of positions. */
  order: PlanOrder;
}

/** One node's place in a plan. */
export interface PlannedNode {
  /** Node name. */
  name: string;
  /** Position from 1 (1 is fed by the server). */
  position: number;
  /** Name of its upstream, or {@link SERVER_NAME}. */
  upstream: string;
  /** Names of its children, in order. */
  children: string[];
}

/** A complete topology. */
export interface Plan {
  /** Nodes by position. */
  nodes: PlannedNode[];
  /** Names of the nodes the server feeds. */
  heads: string[];
  /** The fan-out used. */
  fanout: number;
  /**
   * The racks, one chain (or tree) each, in plan order: each with its nodes' first position ("" for
   * nodes that said no rack). Empty when no node has a rack.
   */
  racks: { rack: string; first: number }[];
}

/**
 * Plans a chain (fanout 1) or a K-ary tree over `inputs`.
 *
 * @param inputs The nodes that joined, with their order of joining.
 * @param options Fan-out and order.
 * @returns Every node's position, upstream and children, and the heads the server feeds.
 * @example A binary tree of five nodes
 * ```ts
 * import { planTopology } from "./planner.ts";
 *
 * const plan = planTopology(
 *   ["a", "b", "c", "d", "e"].map((name, joinIndex) => ({ name, joinIndex })),
 *   { fanout: 2, order: "join" },
 * );
 * console.assert(plan.heads.join() === "a,b");
 * console.assert(plan.nodes[2].upstream === "a" && plan.nodes[2].position === 3);
 * ```
 */
export function planTopology(inputs: readonly PlanInput[], options: PlanOptions): Plan {
  const { fanout } = options;
  if (!Number.isInteger(fanout) || fanout < 1 || fanout > MAX_FANOUT) {
    throw new ConfigError(`Fan-out must be an integer from 1 to ${MAX_FANOUT}, got ${fanout}`);
  }
  const names = new Set(inputs.map((n) => n.name));
  if (names.size !== inputs.length) throw new ConfigError("Node names in a plan must be unique");
  const ordered = [...inputs].sort(
    options.order === "name"
      ? (a, b) => a.name.localeCompare(b.name, "en", { numeric: true })
      : (a, b) => a.joinIndex - b.joinIndex,
  );
  const nodes: PlannedNode[] = [];
  const heads: string[] = [];
  const racks: Plan["racks"] = [];
  const groups = rackGroups(ordered);
  for (const group of groups) {
    const base = nodes.length; // positions before this group's
    if (groups.length > 1 || group[0].rack !== undefined) {
      racks.push({ rack: group[0].rack ?? "", first: base + 1 });
    }
    for (const [index, n] of group.entries()) {
      const node: PlannedNode = {
        name: n.name,
        position: base + index + 1,
        upstream: SERVER_NAME,
        children: [],
      };
      nodes.push(node);
      const parent = Math.ceil((index + 1) / fanout) - 1; // an index in the group, from 1; 0 is the server
      if (parent === 0) {
        heads.push(node.name);
      } else {
        node.upstream = nodes[base + parent - 1].name;
        nodes[base + parent - 1].children.push(node.name);
      }
    }
  }
  return { nodes, heads, fanout, racks };
}

/** The nodes by rack, racks in the order of their first node; one group when no node has a rack. */
function rackGroups(ordered: readonly PlanInput[]): PlanInput[][] {
  const groups = new Map<string | undefined, PlanInput[]>();
  for (const node of ordered) {
    const group = groups.get(node.rack);
    if (group) group.push(node);
    else groups.set(node.rack, [node]);
  }
  return [...groups.values()];
}

/** Depth of the deepest node (1 for the heads), 0 for an empty plan. */
export function planDepth(plan: Plan): number {
  const depth = new Map<string, number>();
  let max = 0;
  for (const node of plan.nodes) {
    const d = node.upstream === SERVER_NAME ? 1 : depth.get(node.upstream)! + 1;
    depth.set(node.name, d);
    max = Math.max(max, d);
  }
  return max;
}
