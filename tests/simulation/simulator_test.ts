import { CALIBRATION } from "../../lib/simulation/calibration.ts";
import { type Scenario, simulate } from "../../lib/simulation/simulator.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const BASE: Scenario = {
  nodes: 12,
  fanout: 1,
  bytes: 200e6,
  rateBps: 200e6,
  ...CALIBRATION,
  failShare: 0,
  failKind: "hung",
  slowShare: 0,
  slowSpeed: 0.5,
  seed: 1,
};

Deno.test("simulator: a healthy chain takes the start, the bytes at the port's stream rate, and a hop per node", () => {
  const r = simulate(BASE);
  const expected = CALIBRATION.startupSeconds + 12 * CALIBRATION.linkSecondsPerLevel +
    200e6 / (25e6 * CALIBRATION.efficiency) + 12 * CALIBRATION.hopDelaySeconds;
  assert(Math.abs(r.seconds - expected) < 1e-6, `${r.seconds} vs ${expected}`);
  assertEquals([r.depth, r.repairs, r.failedNodes], [12, 0, 0]);
});

Deno.test("simulator: a fan-out K tree feeds each child at 1/K of the port, but is only log_K(N) deep", () => {
  const chain = simulate({ ...BASE, nodes: 1000 });
  const tree = simulate({ ...BASE, nodes: 1000, fanout: 2 });
  assertEquals([chain.depth, tree.depth], [1000, 9]); // 2 + 4 + … + 512 ≥ 1000
  assert(tree.seconds > 1.9 * (200e6 / (25e6 * CALIBRATION.efficiency)), "each child gets half a port");
  assert(chain.worstLagSeconds > 50 * tree.worstLagSeconds, "the chain's last node is 1000 hops away");
});

Deno.test("simulator: 10 000 nodes with 0.5% hung — the real coordinator repairs around each, nobody else fails", () => {
  const started = performance.now();
  const r = simulate({ ...BASE, nodes: 10_000, fanout: 2, bytes: 50e9, rateBps: 10e9, failShare: 0.005 });
  assertEquals(r.failedNodes, 50, "only the hung ones");
  assert(r.repairs >= 50, `${r.repairs} repairs`);
  assertEquals(r.failedRepairs, 0);
  assert(Math.abs(r.stalledSeconds - 50 * (CALIBRATION.detectSeconds + CALIBRATION.relinkSeconds)) < 1e-6);
  assertEquals(
    simulate({ ...BASE, nodes: 10_000, fanout: 2, bytes: 50e9, rateBps: 10e9, failShare: 0.005 }),
    r,
  );
  console.log(`  10 000 nodes simulated in ${((performance.now() - started) / 1000).toFixed(2)} s`);
});

Deno.test("simulator: one slow node holds the whole stream to its speed", () => {
  const healthy = simulate({ ...BASE, nodes: 100 });
  const slow = simulate({ ...BASE, nodes: 100, slowShare: 0.01, slowSpeed: 0.5 });
  const streaming = 200e6 / (25e6 * CALIBRATION.efficiency);
  assert(
    Math.abs(slow.seconds - healthy.seconds - streaming) < 1e-6,
    `${slow.seconds} vs ${healthy.seconds}`,
  );
});
