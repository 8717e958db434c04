/**
 * A slow node in the chain, on a switched network: one port shaped to a quarter of the others'.
 * The server moves it off the chain and feeds it on its own; the others go on at full speed. Needs
 * root (namespaces, tc); skipped with the reason otherwise. What it saves is measured in
 * bench/slow_node.ts, not timed here.
 */

import { canBuildNetlab, Netlab } from "../../lib/netlab/netlab.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { inNamespace, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";

const root = canBuildNetlab();
if (!root) console.warn("slow-node netlab tests SKIPPED: they need root and iproute2 (ip, tc)");
const variant = kadVariants()[0];

Deno.test({
  name:
    "slow node: node 3 of 8 on a 50 Mbit/s port (others 200) → moved off the chain, all 8 verified, the 7 long before it",
  ignore: !root,
  fn: async () => {
    await using lab = await Netlab.create({
      hosts: 9,
      shape: { rate: "200mbit" },
      serverShape: { rate: "1gbit" },
      hostShapes: { 3: { rate: "50mbit" } },
    });
    const [serverHost, ...hosts] = lab.hosts;
    const server = new KadServer(inNamespace(variant, serverHost.namespace), [
      "--bench",
      "150MB",
      "--clients",
      "8",
      "--slow-nodes",
      "move",
    ], { listenHost: "0.0.0.0" });
    const port = await server.port;
    const joins = [];
    for (const [i, host] of hosts.entries()) {
      joins.push(startJoin(inNamespace(variant, host.namespace), port, null, ["--null"], [], {
        serverHost: serverHost.address,
        listen: "0.0.0.0:0",
      }));
      await server.joined(i + 1);
    }
    for (const r of await Promise.all(joins.map((j) => j.result()))) assertEquals(r.code, 0, r.stderr);
    const { code, report, stderr } = await server.result();
    assertEquals(code, 0, stderr);
    assert(report!.nodes.every((n) => n.status === "ok"));
    const slowName = report!.nodes.find((n) => n.address.startsWith(`${lab.hosts[3].address}:`))!.name;
    const moved = server.events.filter((e) => e.event === "node-moved").map((e) => e.name);
    assertEquals(moved[0], slowName, `the slow node is the first moved (moved: ${moved.join(" ")})`);
    const doneAt = new Map(
      server.events.filter((e) => e.event === "node-done").map((e) => [e.name, e.t as number]),
    );
    const others = [...doneAt].filter(([name]) => name !== slowName).map(([, t]) => t);
    assertEquals(others.length, 7);
    assert(
      Math.max(...others) < 0.6 * doneAt.get(slowName)!,
      `the 7 others (last at ${Math.max(...others)} s) finish long before the slow one (${
        doneAt.get(slowName)
      } s)`,
    );
  },
});
