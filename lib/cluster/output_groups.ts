/**
 * Identical outputs folded, as `dshbak -c` and `clush -b` print them: each distinct output once,
 * under the nodes that wrote it.
 *
 * @module
 */

import { foldHosts } from "./host_list.ts";

/** One distinct output and the nodes that wrote it. */
export interface OutputGroup {
  /** The nodes, folded (`node[01-07]`). */
  nodes: string;
  /** How many. */
  count: number;
  /** The output's lines. */
  lines: string[];
}

/** Each node's lines (standard output and error as they came), grouped when identical. */
export class OutputGroups {
  readonly #lines = new Map<string, string[]>();

  /** Adds lines `node` wrote. */
  add(node: string, lines: readonly string[]): void {
    const mine = this.#lines.get(node) ?? [];
    mine.push(...lines);
    this.#lines.set(node, mine);
  }

  /** The groups, the largest first. */
  groups(): OutputGroup[] {
    const byText = new Map<string, string[]>();
    for (const [node, lines] of this.#lines) {
      const text = lines.join("\n");
      byText.set(text, [...byText.get(text) ?? [], node]);
    }
    return [...byText].map(([text, nodes]) => ({
      nodes: foldHosts(nodes),
      count: nodes.length,
      lines: text.split("\n"),
    }))
      .sort((a, b) => b.count - a.count || a.nodes.localeCompare(b.nodes, "en", { numeric: true }));
  }
}
