/**
 * A hung node never costs the others their copy, at full speed and with default options.
 * The whole matrix (node 1, 3 and 6, a tree, the netlab at 1 Gbit/s, a port taken down) is
 * `deno task test:chaos`.
 */

import { assert, assertEquals } from "../_helpers/assert.ts";
import { hangOneNode } from "../_helpers/hung_node.ts";
import { kadVariants } from "../_helpers/kad_cli.ts";

const variant = kadVariants().at(-1)!;

Deno.test("hung node: n3 of a chain of 6 stopped (SIGSTOP) 10 s at full speed → n3 TIMEOUT, the 5 others verified", async () => {
  const { byName, report } = await hangOneNode(variant, { nodes: 6, hang: 3, bench: "2GB", how: "stop" });
  assertEquals(byName.n3.error?.code, "TIMEOUT");
  assert(
    report.repairs.some((r) => r.failed === "n3" && r.child === "n4" && r.error === null),
    "n4 was resumed",
  );
  assertEquals(byName.n4.upstream, "n2", "the report names the link that carried n4's data");
});
