import { ConfigError } from "../../lib/errors.ts";
import { parsePhaseNote } from "../../lib/report/phase.ts";
import { parsePhaseLine } from "../../lib/node/post_install.ts";
import { assertEquals, assertThrows } from "../_helpers/assert.ts";

Deno.test("phase: --phase takes NAME or NAME:DETAIL; a name is a lowercase word", () => {
  assertEquals(parsePhaseNote("booted"), { phase: "booted", detail: "" });
  assertEquals(parsePhaseNote("partitioned: /dev/vda: 3 partitions"), {
    phase: "partitioned",
    detail: "/dev/vda: 3 partitions",
  });
  for (const bad of ["", "Booted", "3d", "two words", "a".repeat(33), ":x"]) {
    assertThrows(() => parsePhaseNote(bad), ConfigError, "Bad phase");
  }
  assertEquals(parsePhaseNote(`x:${"d".repeat(600)}`).detail.length, 512);
});

Deno.test("phase: post-install lines `kad-phase: NAME [DETAIL]` are phases; anything else is output", () => {
  assertEquals(parsePhaseLine("kad-phase: configured"), { phase: "configured", detail: "" });
  assertEquals(parsePhaseLine("  kad-phase:rebooting in 12 s (position 3 of 40)"), {
    phase: "rebooting",
    detail: "in 12 s (position 3 of 40)",
  });
  assertEquals(parsePhaseLine("kad-phase: Configured"), null);
  assertEquals(parsePhaseLine("kad-phase:"), null);
  assertEquals(parsePhaseLine("kad-init: network up"), null);
});
