/**
 * Hung nodes at full speed, on loopback and on a netlab with 1 Gbit/s ports: the first, a middle
 * and the last node of a chain stopped (SIGSTOP) for 10 s, an inner node of a fan-out 2 tree, and
 * a node cut off by taking its port down; and a middle node at 20 MB/s (160 Mbit/s ports), where
 * the ring covers less than the detection. Each prints the pause it cost the source.
 * `deno task test:chaos` (root for the netlab ones).
 */

import { assertEquals } from "../_helpers/assert.ts";
import { hangOneNode, type HangOptions } from "../_helpers/hung_node.ts";
import { kadVariants } from "../_helpers/kad_cli.ts";
import { canBuildNetlab, Netlab } from "../../lib/netlab/netlab.ts";

const variant = kadVariants().at(-1)!;
const root = canBuildNetlab();
if (!root) console.warn("chaos: the netlab cases are SKIPPED: they need root and iproute2 (ip, tc)");

const CASES: { name: string; options: Omit<HangOptions, "lab" | "bench"> }[] = [
  { name: "n1 (the head) of a chain of 6 stopped 10 s", options: { nodes: 6, hang: 1, how: "stop" } },
  { name: "n3 of a chain of 6 stopped 10 s", options: { nodes: 6, hang: 3, how: "stop" } },
  { name: "n6 (the tail) of a chain of 6 stopped 10 s", options: { nodes: 6, hang: 6, how: "stop" } },
  {
    name: "n1 of a fan-out 2 tree of 6 (children n3, n4) stopped 10 s",
    options: { nodes: 6, hang: 1, fanout: 2, how: "stop" },
  },
];

for (const { name, options } of CASES) {
  Deno.test(`chaos loopback: ${name} at full speed → the 5 others verified`, async () => {
    const outcome = await hangOneNode(variant, { ...options, bench: "2GB" });
    assertEquals(outcome.byName[`n${options.hang}`].error?.code, "TIMEOUT");
    console.log(`  pause: the source stood still ${outcome.pauseSeconds.toFixed(1)} s`);
  });
}

for (
  const { name, options } of [
    ...CASES,
    {
      name: "n3 of a chain of 6 cut off (its port down) 10 s",
      options: { nodes: 6, hang: 3, how: "link-down" as const },
    },
  ]
) {
  Deno.test({
    name: `chaos netlab 1 Gbit/s: ${name} → the 5 others verified`,
    ignore: !root,
    fn: async () => {
      await using lab = await Netlab.create({ hosts: 7, shape: { rate: "1gbit" } });
      const outcome = await hangOneNode(variant, { ...options, bench: "2GB", lab });
      assertEquals(outcome.byName[`n${options.hang}`].status, "failed");
      console.log(`  pause: the source stood still ${outcome.pauseSeconds.toFixed(1)} s`);
    },
  });
}

Deno.test({
  name: "chaos netlab 160 Mbit/s (20 MB/s): n3 of a chain of 6 stopped 10 s → the 5 others verified",
  ignore: !root,
  fn: async () => {
    await using lab = await Netlab.create({ hosts: 7, shape: { rate: "160mbit" } });
    const outcome = await hangOneNode(variant, { nodes: 6, hang: 3, how: "stop", bench: "600MB", lab });
    assertEquals(outcome.byName.n3.error?.code, "TIMEOUT");
    console.log(`  pause: the source stood still ${outcome.pauseSeconds.toFixed(1)} s`);
  },
});
