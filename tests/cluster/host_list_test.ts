import { ConfigError } from "../../lib/errors.ts";
import { expandHosts, foldHosts, parseHostsFile } from "../../lib/cluster/host_list.ts";
import { assertEquals, assertThrows } from "../_helpers/assert.ts";

Deno.test("host list: folded ranges expand in order, zero padding kept, duplicates once", () => {
  assertEquals(expandHosts("node[01-03,07]"), ["node01", "node02", "node03", "node07"]);
  assertEquals(expandHosts("gw, node[8-10]"), ["gw", "node8", "node9", "node10"]);
  assertEquals(expandHosts("r[1-2]-n[1-2]"), ["r1-n1", "r1-n2", "r2-n1", "r2-n2"]);
  assertEquals(expandHosts("a,a,b"), ["a", "b"]);
  assertEquals(expandHosts("node[0098-0100]"), ["node0098", "node0099", "node0100"]);
});

Deno.test("host list: a hosts file holds one list per line, with comments", () => {
  assertEquals(parseHostsFile("# rack 1\nnode[1-2]\n\nnode9  # spare\n"), ["node1", "node2", "node9"]);
});

Deno.test("host list: unbalanced brackets, backward ranges and junk are one-line errors", () => {
  for (const bad of ["node[1-3", "node[3-1]", "node[a-b]", "node]1", "node 1", "n[1-200000]"]) {
    assertThrows(
      () => expandHosts(bad),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith("Bad host list"),
      bad,
    );
  }
});

Deno.test("host list: foldHosts prints the shortest list, and expands back to the same hosts", () => {
  assertEquals(foldHosts(["n1", "n2", "n3", "n5"]), "n[1-3,5]");
  assertEquals(foldHosts(["node10", "node01", "node02"]), "node[01-02,10]");
  assertEquals(foldHosts(["gw", "vm", "vm-2", "vm-3"]), "gw,vm,vm-[2-3]");
  assertEquals(foldHosts(["a1"]), "a1");
  for (const hosts of [["n7", "n07", "n8"], ["x9", "x10", "x11"], ["r1-n1", "r1-n2", "r2-n1"]]) {
    assertEquals(expandHosts(foldHosts(hosts)).sort(), [...hosts].sort(), hosts.join(","));
  }
});
