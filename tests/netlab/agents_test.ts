/**
 * Agents on a switched network: `kad head` on one host, `kad agent` on eight others (each in its
 * namespace, without --name), taking deployments, commands and a merging gather. Needs root
 * (namespaces); skipped with the reason otherwise.
 */

import { join } from "node:path";
import { canBuildNetlab, Netlab } from "../../lib/netlab/netlab.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { Agents, headClient, HeadProcess } from "../_helpers/agent_lab.ts";
import { inNamespace, KadServer, kadVariants } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const root = canBuildNetlab();
if (!root) console.warn("agent netlab tests SKIPPED: they need root and iproute2 (ip, tc)");
const variant = kadVariants()[0];

/** A lab of 9 hosts at 1 Gbit/s: the head on the first, an agent on each of the 8 others. */
async function agentLab() {
  const lab = await Netlab.create({ hosts: 9, shape: { rate: "1gbit" } });
  const [headHost, ...agentHosts] = lab.hosts;
  const inHead = inNamespace(variant, headHost.namespace);
  const head = new HeadProcess(inHead, headHost.address);
  const address = `${headHost.address}:${await head.port}`;
  const agents = new Agents(agentHosts.map((h) => inNamespace(variant, h.namespace)), address);
  await head.connected(8);
  // the name the head gave the agent at each address
  const nameAt = new Map(
    head.events.filter((e) => e.event === "agent-joined").map((e) => [e.host as string, e.name as string]),
  );
  return { lab, head, agents, address, inHead, agentHosts, nameAt };
}

Deno.test({
  name:
    "agents: 8 agents take two deployments in a row, then a kad run with one failing host → its exit code, exit 1",
  ignore: !root,
  fn: async () => {
    const { lab, head, agents, address, inHead, agentHosts, nameAt } = await agentLab();
    await using _lab = lab;
    await using _head = head;
    await using _agents = agents;
    await using dir = await tempDir();
    await Deno.writeTextFile(join(dir.path, "motd"), "deployed by kad\n");
    for (const source of [["--bench", "100MB"], [dir.path]]) {
      const server = new KadServer(inHead, [
        ...source,
        "--launch",
        "agents",
        "--head",
        address,
        "--join-args=--null",
      ], { listenHost: lab.hosts[0].address });
      const { code, report, stderr } = await server.result();
      assertEquals(code, 0, stderr);
      assertEquals(report!.nodes.map((n) => n.name).sort(), [...nameAt.values()].sort());
      assert(report!.nodes.every((n) => n.status === "ok"));
    }
    const failing = agentHosts[5].address;
    const run = await headClient(inHead, [
      "run",
      "--head",
      address,
      "--",
      `hostname -I | grep -qw ${failing.replaceAll(".", "\\.")} && exit 3; echo ok`,
    ]);
    assertEquals(run.code, 1);
    const exits = new Map(run.events.filter((e) => e.event === "exit").map((e) => [e.node, e.outcome]));
    assertEquals(exits.size, 8);
    assertEquals(exits.get(nameAt.get(failing)), "exit 3");
    assertEquals([...exits.values()].filter((o) => o === "exit 0").length, 7);
  },
});

Deno.test({
  name: "gather: --merge 'sort -m' of 8 presorted files along the tree → one file equal to sort of all 8",
  ignore: !root,
  fn: async () => {
    const { lab, head, agents, address, inHead, agentHosts } = await agentLab();
    await using _lab = lab;
    await using _head = head;
    await using _agents = agents;
    await using dir = await tempDir();
    const all: string[] = [];
    for (const [i, host] of agentHosts.entries()) {
      // words in C order, each file on its own; the file a node gathers is the one of its address
      const words = Array.from(
        { length: 2000 },
        (_, j) => `w${(j * 7919 + i * 104729) % 99991}-${host.address}`,
      );
      words.sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
      all.push(...words);
      await Deno.writeTextFile(join(dir.path, `part-${host.address}`), words.join("\n") + "\n");
    }
    const to = join(dir.path, "gathered");
    const { code, events, stderr } = await headClient(inHead, [
      "gather",
      "--head",
      address,
      "--cmd",
      `cat ${dir.path}/part-$(hostname -I | tr -d ' ')`,
      "--merge",
      "LC_ALL=C sort -m",
      "--to",
      to,
    ]);
    assertEquals(code, 0, stderr);
    const verdicts = events.filter((e) => e.event === "verdict");
    assertEquals(verdicts.length, 8);
    assert(verdicts.every((v) => v.status === "ok" && (v.bytes as number) > 2000 * 8));
    all.sort((a, b) => a < b ? -1 : a > b ? 1 : 0);
    assertEquals(await Deno.readTextFile(join(to, "merged")), all.join("\n") + "\n");
  },
});
