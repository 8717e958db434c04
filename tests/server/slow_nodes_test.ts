import { SLOW_HOLD_MS, SlowNodes } from "../../lib/server/slow_nodes.ts";
import { assertEquals } from "../_helpers/assert.ts";

// server → n1 → n2 → n3 → n4
const chain: Record<string, string[]> = { server: ["n1"], n1: ["n2"], n2: ["n3"], n3: ["n4"], n4: [] };
const childrenOf = (node: string) => chain[node] ?? [];
const wait = (feeder: string, by: string, share = 0.9) => ({ feeder, blocked: { by, share } });

Deno.test("slow nodes: every feeder above a slow node waits for its child; only the one that waits for no child is slow", () => {
  const slow = new SlowNodes();
  // n3's sink is slow: n2 waits for n3, n1 for n2, the server for n1, and n3 for its sink
  const waits = [wait("server", "n1"), wait("n1", "n2"), wait("n2", "n3"), wait("n3", "sink")];
  assertEquals(slow.look(0, waits, childrenOf), []);
  assertEquals(slow.look(SLOW_HOLD_MS, waits, childrenOf), ["n3"]);
});

Deno.test("slow nodes: a node whose link is slow waits for nothing itself; its feeder waits for it", () => {
  const slow = new SlowNodes();
  const waits = [wait("server", "n1"), wait("n1", "n2")];
  slow.look(0, waits, childrenOf);
  assertEquals(slow.look(SLOW_HOLD_MS, waits, childrenOf), ["n2"]);
});

Deno.test("slow nodes: short or partial waits, or a wait broken before the hold, are not slowness", () => {
  const slow = new SlowNodes();
  assertEquals(slow.look(0, [wait("n1", "n2", 0.3)], childrenOf), []);
  assertEquals(slow.look(SLOW_HOLD_MS, [wait("n1", "n2", 0.3)], childrenOf), []);
  slow.look(2 * SLOW_HOLD_MS, [wait("n1", "n2")], childrenOf);
  slow.look(2.5 * SLOW_HOLD_MS, [], childrenOf); // it caught up
  assertEquals(slow.look(3 * SLOW_HOLD_MS, [wait("n1", "n2")], childrenOf), []);
  // a wait for a node that is not the feeder's child (moved meanwhile) says nothing
  assertEquals(slow.look(9 * SLOW_HOLD_MS, [wait("n1", "n4")], childrenOf), []);
});
