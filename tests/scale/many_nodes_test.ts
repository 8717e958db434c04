/**
 * Many nodes on one machine, as people try it first: 64 `kad join --null` processes on loopback
 * (more processes than this 2-core machine can run at once), default names and timeouts.
 * `deno task test:scale`; a few minutes.
 */

import { assertEquals } from "../_helpers/assert.ts";
import { KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";

const variant = kadVariants().at(-1)!;
const NODES = 64;

for (const fanout of [1, 2]) {
  const shape = fanout === 1 ? "a chain" : "a fan-out 2 tree";
  Deno.test(`scale: ${NODES} nodes on one host as ${shape}, default options → all ${NODES} verified`, async () => {
    const server = new KadServer(variant, [
      "--bench",
      "300MB",
      "--clients",
      String(NODES),
      "--fanout",
      String(fanout),
    ]);
    const port = await server.port;
    const nodes = Array.from({ length: NODES }, () => startJoin(variant, port, null, ["--null"]));
    const results = await Promise.all(nodes.map((n) => n.result()));
    const { code, report, stderr } = await server.result(600_000);
    const failed = report?.nodes.filter((n) => n.status !== "ok").map((n) =>
      `${n.name}: ${n.error?.code} ${n.error?.message}`
    );
    assertEquals(failed, [], stderr);
    assertEquals(code, 0);
    assertEquals(report!.nodes.length, NODES);
    for (const r of results) assertEquals(r.code, 0, r.stderr);
  });
}
