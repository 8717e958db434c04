import { ConfigError } from "../../lib/errors.ts";
import { planDepth, planTopology, SERVER_NAME } from "../../lib/topology/planner.ts";
import { assert, assertEquals, assertThrows } from "../_helpers/assert.ts";

const nodes = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}`, joinIndex: n - 1 - i }));

Deno.test("planner: a chain of 3 in join order is server → first → second → third", () => {
  const plan = planTopology(nodes(3), { fanout: 1, order: "join" });
  assertEquals(plan.nodes.map((n) => [n.name, n.upstream, n.children]), [
    ["node3", SERVER_NAME, ["node2"]],
    ["node2", "node3", ["node1"]],
    ["node1", "node2", []],
  ]);
  assertEquals(plan.heads, ["node3"]);
});

Deno.test("planner: --order name sorts numerically (node2 before node10)", () => {
  const plan = planTopology(nodes(12), { fanout: 1, order: "name" });
  assertEquals(plan.nodes.slice(0, 3).map((n) => n.name), ["node1", "node2", "node3"]);
  assertEquals(plan.nodes[9].name, "node10");
});

for (const fanout of [1, 2, 3, 8]) {
  Deno.test(`planner: fan-out ${fanout} at N = 1..100 feeds every node exactly once, acyclically`, () => {
    for (let n = 1; n <= 100; n++) {
      const plan = planTopology(nodes(n), { fanout, order: "join" });
      assertEquals(plan.nodes.length, n);
      assertEquals(plan.heads.length, Math.min(n, fanout));
      const fed = new Map<string, number>();
      for (const node of plan.nodes) {
        assert(node.children.length <= fanout);
        for (const c of node.children) fed.set(c, (fed.get(c) ?? 0) + 1);
        if (node.upstream !== SERVER_NAME) {
          const up = plan.nodes.find((p) => p.name === node.upstream)!;
          assert(up.position < node.position, "upstream precedes its child");
          assert(up.children.includes(node.name));
        }
      }
      for (const node of plan.nodes) {
        assertEquals(fed.get(node.name) ?? 0, node.upstream === SERVER_NAME ? 0 : 1);
      }
      const depth = planDepth(plan);
      if (fanout === 1) assertEquals(depth, n);
      else assert(depth <= Math.ceil(Math.log(n * (fanout - 1) + 1) / Math.log(fanout)) + 1);
    }
  });
}

Deno.test("planner: fan-out outside 1..8 and duplicate names are rejected", () => {
  assertThrows(() => planTopology(nodes(2), { fanout: 0, order: "join" }), ConfigError);
  assertThrows(() => planTopology(nodes(2), { fanout: 9, order: "join" }), ConfigError);
  assertThrows(
    () =>
      planTopology([{ name: "a", joinIndex: 0 }, { name: "a", joinIndex: 1 }], { fanout: 1, order: "join" }),
    ConfigError,
  );
});

Deno.test("planner: no nodes is an empty plan", () => {
  assertEquals(planTopology([], { fanout: 2, order: "join" }).nodes, []);
});

Deno.test("planner: nodes that say their rack get one chain per rack, racks in the order they first joined", () => {
  const joined = ["a1", "b1", "a2", "b2", "a3", "x"].map((name, joinIndex) => ({
    name,
    joinIndex,
    rack: name === "x" ? undefined : name[0],
  }));
  const plan = planTopology(joined, { fanout: 1, order: "join" });
  assertEquals(plan.nodes.map((n) => `${n.position}:${n.name}←${n.upstream}`), [
    "1:a1←server",
    "2:a2←a1",
    "3:a3←a2",
    "4:b1←server",
    "5:b2←b1",
    "6:x←server",
  ]);
  assertEquals(plan.heads, ["a1", "b1", "x"]);
  assertEquals(plan.racks, [{ rack: "a", first: 1 }, { rack: "b", first: 4 }, { rack: "", first: 6 }]);
});

Deno.test("planner: with racks and a fan-out, each rack is its own tree", () => {
  const joined = ["a1", "a2", "a3", "a4", "b1", "b2"].map((name, joinIndex) => ({
    name,
    joinIndex,
    rack: name[0],
  }));
  const plan = planTopology(joined, { fanout: 2, order: "join" });
  assertEquals(plan.heads, ["a1", "a2", "b1", "b2"]);
  assertEquals(plan.nodes.find((n) => n.name === "a3")!.upstream, "a1");
  assertEquals(plan.nodes.find((n) => n.name === "a4")!.upstream, "a1");
});

Deno.test("planner: no racks → one chain and no rack groups (as before)", () => {
  const plan = planTopology(nodes(3), { fanout: 1, order: "join" });
  assertEquals([plan.heads.length, plan.racks], [1, []]);
});
