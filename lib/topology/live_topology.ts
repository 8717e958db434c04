/**
 * The topology as it is now, not as it was planned: repairs move nodes under new upstreams. The
 * server keeps one to know, when a node fails, who must adopt its children: its nearest ancestor
 * still able to feed (nodes that have finished cannot), the server at the top.
 *
 * @module
 */

import { type Plan, SERVER_NAME } from "./planner.ts";

/** Parents and children of every node still in the stream. */
export class LiveTopology {
  readonly #parent = new Map<string, string>();
  readonly #children = new Map<string, string[]>([[SERVER_NAME, []]]);

  /** Starts from the plan. */
  constructor(plan: Plan) {
    for (const node of plan.nodes) {
      this.#parent.set(node.name, node.upstream);
      this.#children.set(node.name, [...node.children]);
    }
    this.#children.set(SERVER_NAME, [...plan.heads]);
  }

  /** The node's current upstream, or undefined once it left the topology. */
  parentOf(name: string): string | undefined {
    return this.#parent.get(name);
  }

  /** The nodes `name` currently feeds. */
  childrenOf(name: string): readonly string[] {
    return this.#children.get(name) ?? [];
  }

  /** True while `name` is in the topology (the server always is). */
  has(name: string): boolean {
    return name === SERVER_NAME || this.#parent.has(name);
  }

  /**
   * The nearest ancestor of `name` that `canFeed` accepts; the server when none does.
   */
  feederFor(name: string, canFeed: (node: string) => boolean): string {
    let up = this.#parent.get(name);
    while (up !== undefined && up !== SERVER_NAME && !canFeed(up)) up = this.#parent.get(up);
    return up ?? SERVER_NAME;
  }

  /** Moves `child` under `parent`. */
  move(child: string, parent: string): void {
    const old = this.#parent.get(child);
    if (old !== undefined) {
      const siblings = this.#children.get(old);
      siblings?.splice(siblings.indexOf(child), 1);
    }
    this.#parent.set(child, parent);
    this.#children.get(parent)?.push(child);
  }

  /** Takes a failed node out; returns its former parent and children (still attached to it). */
  remove(name: string): { parent: string; children: string[] } | null {
    const parent = this.#parent.get(name);
    if (parent === undefined) return null;
    const children = [...this.childrenOf(name)];
    const siblings = this.#children.get(parent);
    siblings?.splice(siblings.indexOf(name), 1);
    this.#parent.delete(name);
    return { parent, children };
  }
}
