/**
 * Chains per rack on two switches joined by a slow trunk: nodes that say their rack (or that the
 * server's nodes file places) get one chain per rack, so the trunk is crossed once. Needs root
 * (namespaces, tc); skipped with the reason otherwise.
 */

import { join } from "node:path";
import { canBuildNetlab, Netlab, type NetlabHost } from "../../lib/netlab/netlab.ts";
import type { DeploymentReport } from "../../lib/report/report.ts";
import { assertEquals } from "../_helpers/assert.ts";
import { inNamespace, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const root = canBuildNetlab();
if (!root) console.warn("rack netlab tests SKIPPED: they need root and iproute2 (ip, tc)");
const variant = kadVariants()[0];

/** Server and 4 nodes on switch A, 4 nodes on switch B, 1 Gbit/s ports, a 100 Mbit/s trunk. */
function twoRacks(): Promise<Netlab> {
  return Netlab.create({
    hosts: 9,
    shape: { rate: "1gbit" },
    trunk: { firstOnSecond: 5, shape: { rate: "100mbit" } },
  });
}

/** A deployment's report, and each node's planned upstream (repairs and moves aside). */
interface Deployed {
  report: DeploymentReport;
  plannedUpstream: Map<string, string>;
}

/** Nodes joining alternately from rack A and rack B; `labelled`: they say their rack. */
async function deployAcross(lab: Netlab, serveArgs: string[], labelled: boolean): Promise<Deployed> {
  const [serverHost, ...nodeHosts] = lab.hosts;
  const order = [0, 4, 1, 5, 2, 6, 3, 7].map((i) => nodeHosts[i]);
  const server = new KadServer(inNamespace(variant, serverHost.namespace), [
    "--bench",
    "40MB",
    "--clients",
    "8",
    ...serveArgs,
  ], { listenHost: "0.0.0.0" });
  const port = await server.port;
  const joins = [];
  for (const [i, host] of order.entries()) {
    const label = labelled ? ["--label", `rack=${rackOf(host)}`] : [];
    joins.push(startJoin(inNamespace(variant, host.namespace), port, null, ["--null"], label, {
      serverHost: serverHost.address,
      listen: "0.0.0.0:0",
    }));
    await server.joined(i + 1);
  }
  for (const r of await Promise.all(joins.map((j) => j.result()))) assertEquals(r.code, 0, r.stderr);
  const { code, report } = await server.result();
  assertEquals(code, 0);
  const planned = server.events.find((e) => e.event === "planned")!.nodes as {
    name: string;
    upstream: string;
  }[];
  return { report: report!, plannedUpstream: new Map(planned.map((n) => [n.name, n.upstream])) };
}

const rackOf = (host: NetlabHost) => host.switch === 0 ? "a" : "b";

/** The rack of every node in the report, by its address. */
function racksByName(lab: Netlab, report: DeploymentReport): Map<string, string> {
  const byAddress = new Map(lab.hosts.map((h) => [h.address, rackOf(h)]));
  return new Map(report.nodes.map((n) => [n.name, byAddress.get(n.address.split(":")[0])!]));
}

Deno.test({
  name: "racks: nodes on two switches saying --label rack=R → one chain per rack, the trunk crossed once",
  ignore: !root,
  fn: async () => {
    await using lab = await twoRacks();
    const { report, plannedUpstream: up } = await deployAcross(lab, [], true);
    const rack = racksByName(lab, report);
    const heads = report.nodes.filter((n) => up.get(n.name) === "server");
    assertEquals(heads.map((n) => rack.get(n.name)), ["a", "b"], "one head per rack, in joining order");
    for (const node of report.nodes.filter((n) => up.get(n.name) !== "server")) {
      assertEquals(
        rack.get(up.get(node.name)!),
        rack.get(node.name),
        `${node.name} is fed from its own rack`,
      );
    }
    assertEquals(report.nodes.every((n) => n.status === "ok"), true);
  },
});

Deno.test({
  name: "racks: the server's --nodes-file places nodes that say nothing; without racks the chain zigzags",
  ignore: !root,
  fn: async () => {
    await using dir = await tempDir();
    await using lab = await twoRacks();
    // without racks: joining order, so the chain crosses the trunk at every hop
    const { report: naive, plannedUpstream: naiveUp } = await deployAcross(lab, [], false);
    const rack = racksByName(lab, naive);
    const crossings = naive.nodes.filter((n) =>
      naiveUp.get(n.name) !== "server" && rack.get(naiveUp.get(n.name)!) !== rack.get(n.name)
    );
    assertEquals(crossings.length, 7);
    // the nodes file gives every node its rack by name (the host names are the nodes' default names)
    const file = join(dir.path, "nodes");
    await Deno.writeTextFile(file, naive.nodes.map((n) => `${n.name} rack=${rack.get(n.name)}\n`).join(""));
    const { report: placed, plannedUpstream: placedUp } = await deployAcross(
      lab,
      ["--nodes-file", file],
      false,
    );
    const heads = placed.nodes.filter((n) => placedUp.get(n.name) === "server");
    assertEquals(heads.length, 2);
    const again = racksByName(lab, placed);
    for (const node of placed.nodes.filter((n) => placedUp.get(n.name) !== "server")) {
      assertEquals(again.get(placedUp.get(node.name)!), again.get(node.name));
    }
  },
});
