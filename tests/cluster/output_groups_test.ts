import { OutputGroups } from "../../lib/cluster/output_groups.ts";
import { assertEquals } from "../_helpers/assert.ts";

Deno.test("output groups: identical outputs fold under their nodes, the largest group first", () => {
  const groups = new OutputGroups();
  for (const node of ["n1", "n2", "n4"]) groups.add(node, ["Linux 6.1", "ok"]);
  groups.add("n3", ["Linux 6.1"]);
  groups.add("n3", ["failed"]); // lines that came in two messages are one output
  assertEquals(groups.groups(), [
    { nodes: "n[1-2,4]", count: 3, lines: ["Linux 6.1", "ok"] },
    { nodes: "n3", count: 1, lines: ["Linux 6.1", "failed"] },
  ]);
});
