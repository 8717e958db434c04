/**
 * The simulator against the netlab: for every measured run (README "Performance"), the simulated
 * time of the same chain on the same one host lands within 5 % of the measured one.
 */

import { CALIBRATION, NETLAB_HOST, NETLAB_RUNS } from "../../lib/simulation/calibration.ts";
import { simulate } from "../../lib/simulation/simulator.ts";
import { assert } from "../_helpers/assert.ts";

for (const runs of NETLAB_RUNS) {
  Deno.test(`calibration: ${runs.bytes / 1e6} MB at ${runs.rateBps / 1e6} Mbit/s, N = ${runs.seconds.map(([n]) => n).join(", ")} → simulated within 5 % of measured`, () => {
    const lines: string[] = [];
    for (const [nodes, measured] of runs.seconds) {
      const simulated = simulate({
        nodes,
        fanout: 1,
        bytes: runs.bytes,
        rateBps: runs.rateBps,
        ...CALIBRATION,
        failShare: 0,
        failKind: "hung",
        slowShare: 0,
        slowSpeed: 1,
        seed: 1,
        sharedHost: NETLAB_HOST,
      }).seconds;
      lines.push(`N=${nodes}: measured ${measured} s, simulated ${simulated.toFixed(2)} s`);
      assert(Math.abs(simulated - measured) / measured <= 0.05, lines.join("; "));
    }
    console.log(`  ${lines.join("\n  ")}`);
  });
}
