import { ConfigError } from "../../lib/errors.ts";
import { parseLabel, parseRacksFile } from "../../lib/topology/racks_file.ts";
import { assertEquals, assertThrows } from "../_helpers/assert.ts";

Deno.test("nodes file: NAME rack=R lines, other labels and comments left alone", () => {
  const racks = parseRacksFile(
    "# where they sit\nnode01 rack=r1\n\nnode17   rack=r2 room=b  # second row\nnode30\n",
    "f",
  );
  assertEquals([...racks], [["node01", "r1"], ["node17", "r2"]]);
});

Deno.test("nodes file: a bad label or a node listed twice names the line", () => {
  assertThrows(
    () => parseRacksFile("n1 rack=r1\nn2 rack\n", "nodes.txt"),
    (e: unknown) => e instanceof ConfigError && /^nodes\.txt:2: a label is KEY=VALUE/.test(e.message),
  );
  assertThrows(
    () => parseRacksFile("n1 rack=r1\nn1 rack=r2\n", "nodes.txt"),
    (e: unknown) => e instanceof ConfigError && e.message === "nodes.txt:2: node n1 is listed twice",
  );
});

Deno.test("labels: KEY=VALUE with a lowercase key and a value without spaces", () => {
  assertEquals(parseLabel("rack=r12", "x"), { key: "rack", value: "r12" });
  for (const bad of ["rack", "=r1", "Rack=r1", "rack=", "rack=a b", "rack=\u0007"]) {
    assertThrows(() => parseLabel(bad, "Option --label"), ConfigError, bad);
  }
});
