import { gatherTree, subtreeOf } from "../../lib/gather/gather_tree.ts";
import { assertEquals } from "../_helpers/assert.ts";

const nodes = ["n1", "n2", "n3", "n4", "n5", "n6", "n7"];

Deno.test("gather tree: without a merge every node sends to the head (a star)", () => {
  const tree = gatherTree(nodes, Infinity);
  assertEquals(tree.rootChildren, nodes);
  assertEquals(tree.parentOf.size, 0);
});

Deno.test("gather tree: fan-out 2 → breadth first, each node the parent of two", () => {
  const tree = gatherTree(nodes, 2);
  assertEquals(tree.rootChildren, ["n1", "n2"]);
  assertEquals(tree.childrenOf.get("n1"), ["n3", "n4"]);
  assertEquals(tree.childrenOf.get("n2"), ["n5", "n6"]);
  assertEquals(tree.childrenOf.get("n3"), ["n7"]);
  assertEquals(subtreeOf(tree, "n1"), ["n3", "n7", "n4"]);
  // every node but the root's children has exactly one parent, and is its child
  for (const [child, parent] of tree.parentOf) {
    assertEquals(tree.childrenOf.get(parent)!.includes(child), true);
  }
  assertEquals(tree.parentOf.size + tree.rootChildren.length, nodes.length);
});

Deno.test("gather tree: fan-out 1 is a chain", () => {
  const tree = gatherTree(["a", "b", "c"], 1);
  assertEquals(tree.rootChildren, ["a"]);
  assertEquals([tree.parentOf.get("b"), tree.parentOf.get("c")], ["a", "b"]);
});
