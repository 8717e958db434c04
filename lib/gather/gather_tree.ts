/**
 * The shape of a gather: who sends to whom. Without a merge every node sends straight to the head
 * (a star: the head's link carries every byte anyway, and a relay would only add a hop that can
 * fail); with a merge, a K-ary tree in which each node merges its children's streams with its own,
 * so the head receives K streams, already merged.
 *
 * @module
 */

/** Who sends to whom; the head is the root. */
export interface GatherTree {
  /** The nodes that send to the head. */
  rootChildren: string[];
  /** Each node's parent; absent for the root's children. */
  parentOf: Map<string, string>;
  /** Each node's children (empty for leaves). */
  childrenOf: Map<string, string[]>;
}

/**
 * The gather tree of `nodes` in their order: breadth first, `fanout` children per node; a fanout
 * of Infinity is the star.
 */
export function gatherTree(nodes: readonly string[], fanout: number): GatherTree {
  const tree: GatherTree = { rootChildren: [], parentOf: new Map(), childrenOf: new Map() };
  for (const node of nodes) tree.childrenOf.set(node, []);
  nodes.forEach((node, i) => {
    if (i < fanout) {
      tree.rootChildren.push(node);
      return;
    }
    const parent = nodes[Math.floor(i / fanout) - 1];
    tree.parentOf.set(node, parent);
    tree.childrenOf.get(parent)!.push(node);
  });
  return tree;
}

/** The nodes under `node` (itself excluded), depth first. */
export function subtreeOf(tree: GatherTree, node: string): string[] {
  const below: string[] = [];
  for (const child of tree.childrenOf.get(node) ?? []) below.push(child, ...subtreeOf(tree, child));
  return below;
}
