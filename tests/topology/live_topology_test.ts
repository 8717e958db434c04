import { LiveTopology } from "../../lib/topology/live_topology.ts";
import { planTopology, SERVER_NAME } from "../../lib/topology/planner.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const chain = (n: number, fanout = 1) =>
  planTopology(Array.from({ length: n }, (_, i) => ({ name: `n${i}`, joinIndex: i })), {
    fanout,
    order: "join",
  });

Deno.test("live topology: a middle node of a chain fails → its child goes to its upstream", () => {
  const live = new LiveTopology(chain(4));
  const removed = live.remove("n1");
  assertEquals(removed, { parent: "n0", children: ["n2"] });
  live.move("n2", removed!.parent);
  assertEquals(live.parentOf("n2"), "n0");
  assertEquals(live.childrenOf("n0"), ["n2"]);
  assert(!live.has("n1"));
});

Deno.test("live topology: two adjacent failures → the grandchild is fed by the nearest live ancestor", () => {
  const live = new LiveTopology(chain(5));
  live.remove("n1");
  live.move("n2", "n0");
  live.remove("n2");
  live.move("n3", "n0");
  assertEquals(live.parentOf("n3"), "n0");
  assertEquals(live.childrenOf("n0"), ["n3"]);
});

Deno.test("live topology: a feeder that has finished is skipped up to the server", () => {
  const live = new LiveTopology(chain(3));
  const done = new Set(["n0"]);
  assertEquals(live.feederFor("n1", (n) => !done.has(n)), SERVER_NAME);
  assertEquals(live.feederFor("n2", (n) => !done.has(n)), "n1");
});

Deno.test("live topology: in a tree, a failed inner node's children move under its parent", () => {
  const live = new LiveTopology(chain(8, 2));
  // heap order: the server feeds n0 n1; n0 feeds n2 n3; n2 feeds n6 n7
  assertEquals(live.childrenOf("n2"), ["n6", "n7"]);
  const removed = live.remove("n2")!;
  for (const child of removed.children) live.move(child, removed.parent);
  assertEquals(live.childrenOf("n0"), ["n3", "n6", "n7"]);
  assertEquals(live.parentOf("n7"), "n0");
});
