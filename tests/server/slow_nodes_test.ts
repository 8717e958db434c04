import { SLOW_HOLD_MS, SlowNodes } from "../../lib/server/slow_nodes.ts";
import { assertEquals } from "../_helpers/assert.ts";

// server → n1 → n2 → n3 → n4
const chain: Record<string, string[]> = { server: ["n1"], n1: ["n2"], n2: ["n3"], n3: ["n4"], n4: [] };
const childrenOf = (node: string) => chain[node] ?? [];
const wait = (feeder: string, by: string, share = 0.9) => ({ feeder, blocked: { by, share } });
/** Every node at `mb` megabytes. */
const all = (mb: number) => new Map(["n1", "n2", "n3", "n4"].map((n) => [n, mb * 1e6]));

Deno.test("slow nodes: every feeder above a slow node waits for its child; only the one that waits for no child is slow", () => {
  const slow = new SlowNodes();
  // the first second at 25 MB/s (rings filling), then the chain at 6 MB/s: n3's sink is slow
  const waits = [wait("server", "n1"), wait("n1", "n2"), wait("n2", "n3"), wait("n3", "sink")];
  assertEquals(slow.look(0, [], all(0), childrenOf), []);
  assertEquals(slow.look(1000, [], all(25), childrenOf), []);
  assertEquals(slow.look(2000, waits, all(31), childrenOf), []);
  assertEquals(slow.look(2000 + SLOW_HOLD_MS, waits, all(37), childrenOf), ["n3"]);
});

Deno.test("slow nodes: a node whose link is slow waits for nothing itself; its feeder waits for it", () => {
  const slow = new SlowNodes();
  const waits = [wait("server", "n1"), wait("n1", "n2")];
  slow.look(0, [], all(0), childrenOf);
  slow.look(1000, [], all(25), childrenOf);
  slow.look(2000, waits, all(31), childrenOf);
  assertEquals(slow.look(2000 + SLOW_HOLD_MS, waits, all(37), childrenOf), ["n2"]);
});

Deno.test("slow nodes: a chain at the wire's speed, whose tail's feeder waits for the tail, has no slow node", () => {
  const slow = new SlowNodes();
  const waits = [wait("server", "n1", 0.6), wait("n1", "n2", 0.6), wait("n2", "n3", 0.6), wait("n3", "n4")];
  for (let t = 0; t <= 10; t++) assertEquals(slow.look(t * 1000, waits, all(25 * t), childrenOf), []);
});

Deno.test("slow nodes: partial waits, or a wait broken before the hold, are not slowness", () => {
  const slow = new SlowNodes();
  slow.look(0, [], all(0), childrenOf);
  slow.look(1000, [], all(25), childrenOf);
  assertEquals(slow.look(2000, [wait("n1", "n2", 0.3)], all(26), childrenOf), []);
  assertEquals(slow.look(3000, [wait("n1", "n2", 0.3)], all(27), childrenOf), []);
  slow.look(4000, [wait("n1", "n2")], all(28), childrenOf);
  slow.look(4500, [], all(29), childrenOf); // it caught up
  assertEquals(slow.look(5000, [wait("n1", "n2")], all(30), childrenOf), []);
  // a wait for a node that is not the feeder's child (moved meanwhile) says nothing
  assertEquals(slow.look(9000, [wait("n1", "n4")], all(31), childrenOf), []);
});

Deno.test("slow nodes: a node that stopped moving is hung, not slow: left to the stall detector", () => {
  const slow = new SlowNodes();
  const waits = [wait("server", "n1"), wait("n1", "n2")];
  const at = (n2: number) => new Map([["n1", 40e6], ["n2", n2 * 1e6]]);
  slow.look(0, [], new Map([["n1", 0], ["n2", 0]]), childrenOf);
  slow.look(1000, [], new Map([["n1", 25e6], ["n2", 25e6]]), childrenOf);
  for (let t = 2; t <= 6; t++) assertEquals(slow.look(t * 1000, waits, at(26), childrenOf), []);
});
