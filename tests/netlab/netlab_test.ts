/**
 * Deployments across a real (virtual) switched network: a bridge and one namespace per host,
 * each `kad join` in its own namespace. Needs root; skipped with the reason otherwise.
 */

import { join } from "node:path";
import { canBuildNetlab, Netlab, parseRate } from "../../lib/netlab/netlab.ts";
import { compareTrees } from "../../lib/verify/tree_compare.ts";
import { assert, assertEquals, assertThrows } from "../_helpers/assert.ts";
import { inNamespace, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const root = canBuildNetlab();
if (!root) console.warn("netlab tests SKIPPED: they need root and iproute2 (ip, tc) to build namespaces");

Deno.test("netlab: rates parse from tc syntax", () => {
  assertEquals(parseRate("200mbit"), 200e6);
  assertEquals(parseRate("1gbit"), 1e9);
  assertThrows(() => parseRate("fast"));
});

Deno.test({
  name: "netlab: a deployment to 4 nodes, each in its own namespace behind a 200 Mbit/s port → all verified",
  ignore: !root,
  fn: async () => {
    await using dir = await tempDir();
    const source = join(dir.path, "source");
    await Deno.mkdir(join(source, "etc"), { recursive: true });
    await Deno.writeTextFile(join(source, "etc", "hostname"), "golden\n");
    await Deno.writeFile(
      join(source, "data.bin"),
      crypto.getRandomValues(new Uint8Array(65536)).map((b) => b),
    );
    await using lab = await Netlab.create({ hosts: 5, shape: { rate: "200mbit" } });
    const [serverHost, ...nodeHosts] = lab.hosts;
    const variant = kadVariants()[0];
    const server = new KadServer(inNamespace(variant, serverHost.namespace), [
      source,
      "--clients",
      "4",
      "--timeout",
      "20",
    ], {
      listenHost: "0.0.0.0",
    });
    const port = await server.port;
    const targets = nodeHosts.map((h) => join(dir.path, `node-${h.index}`));
    for (const t of targets) await Deno.mkdir(t);
    const joins = nodeHosts.map((h, i) =>
      startJoin(inNamespace(variant, h.namespace), port, `node-${h.index}`, ["--to", targets[i]], [], {
        serverHost: serverHost.address,
        listen: "0.0.0.0:0",
      })
    );
    const results = await Promise.all(joins.map((j) => j.result()));
    const { code, report } = await server.result();
    for (const r of results) assertEquals(r.code, 0, r.stderr);
    assertEquals(code, 0);
    for (const node of report!.nodes) {
      assertEquals(node.status, "ok");
      assert(node.address.startsWith(nodeHosts[0].address.split(".").slice(0, 3).join(".")), node.address);
    }
    for (const t of targets) assertEquals(await compareTrees(source, t), []);
  },
});

Deno.test({
  name: "netlab: destroy removes every namespace, port and the bridge",
  ignore: !root,
  fn: async () => {
    const lab = await Netlab.create({ hosts: 2 });
    await lab.destroy();
    const ns = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output()).stdout,
    );
    assert(!lab.hosts.some((h) => ns.includes(h.namespace)), ns);
    const link = await new Deno.Command("ip", {
      args: ["link", "show", lab.bridge],
      stdout: "null",
      stderr: "null",
    }).output();
    assertEquals(link.success, false);
  },
});

Deno.test({
  name: "netlab: a middle node's port taken down (ip link set down) mid-stream → it fails, the others ok",
  ignore: !root,
  fn: async () => {
    await using lab = await Netlab.create({ hosts: 4, shape: { rate: "100mbit" } });
    const [serverHost, ...nodeHosts] = lab.hosts;
    const variant = kadVariants()[0];
    const server = new KadServer(inNamespace(variant, serverHost.namespace), [
      "--bench",
      "40MB",
      "--clients",
      "3",
      "--order",
      "name",
      "--timeout",
      "10",
      "--stall-timeout",
      "2",
    ], { listenHost: "0.0.0.0" });
    const port = await server.port;
    const names = ["a", "b", "c"];
    const joins = nodeHosts.map((h, i) =>
      startJoin(inNamespace(variant, h.namespace), port, names[i], ["--null"], ["--timeout", "5"], {
        serverHost: serverHost.address,
        listen: "0.0.0.0:0",
      })
    );
    while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1200)); // ~ a third of the stream
    await lab.setLink(nodeHosts[1], false);
    const [a, b, c] = await Promise.all(joins.map((j) => j.result()));
    const { report } = await server.result();
    const byName = Object.fromEntries(report!.nodes.map((n) => [n.name, n]));
    assertEquals(byName.b.error?.code, "TIMEOUT");
    assertEquals(b.code, 1);
    assertEquals(byName.a.status, "ok", a.stderr);
    assertEquals(byName.c.status, "ok", c.stderr);
    assertEquals(c.code, 0);
    assertEquals(report!.repairs.find((r) => r.child === "c")?.upstream, "a");
  },
});
