/**
 * Phases in the server's report: real `kad serve` and `kad join` processes, nodes announcing the
 * phases before their join (`--phase`) and running a post-install step (`--post-install`) whose
 * `kad-phase:` lines and exit status reach the server.
 */

import { join } from "node:path";
import type { NodeResult } from "../../lib/report/report.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const variant = kadVariants()[0];

async function sourceTree(dir: string): Promise<string> {
  const root = join(dir, "source");
  await Deno.mkdir(join(root, "etc"), { recursive: true });
  await Deno.writeTextFile(join(root, "etc", "hostname"), "golden\n");
  return root;
}

async function targets(dir: string, names: string[]): Promise<string[]> {
  const paths = names.map((n) => join(dir, n));
  for (const p of paths) await Deno.mkdir(p);
  return paths;
}

const phaseNames = (node: NodeResult) => node.phases.map((p) => p.ok ? p.phase : `${p.phase}!`);

Deno.test("phases: pre-join phases, post-install phases and its verdict reach the report in order; a failing step fails only its node (POST)", async () => {
  await using dir = await tempDir();
  const source = await sourceTree(dir.path);
  const [a, b, c] = await targets(dir.path, ["a", "b", "c"]);
  const server = new KadServer(variant, [source, "--clients", "3", "--timeout", "20"]);
  const port = await server.port;
  const configure = (target: string) =>
    `echo "$KAD_NODE $KAD_POSITION/$KAD_COUNT $KAD_BYTES" > ${target}/etc/kad-node && ` +
    `echo "kad-phase: configured hostname $KAD_NODE" && echo "kad-phase: rebooting in 0 s"`;
  const nodes = [
    startJoin(variant, port, "a", ["--to", a], [
      "--phase",
      "booted",
      "--phase",
      "partitioned:/dev/vda: 2 partitions",
      "--post-install",
      configure(a),
    ]),
    startJoin(variant, port, "b", ["--to", b], [
      "--phase",
      "booted",
      "--post-install",
      "echo kad-phase: configured; echo 'grub-install: /dev/vda: no such disk' >&2; exit 3",
    ]),
    startJoin(variant, port, "c", ["--to", c]),
  ];
  const results = await Promise.all(nodes.map((n) => n.result()));
  const { code, report } = await server.result();
  assertEquals(code, 1, "not every node is ok");
  const byName = Object.fromEntries(report!.nodes.map((n) => [n.name, n]));

  assertEquals(results[0].code, 0, results[0].stderr);
  assertEquals(byName.a.status, "ok");
  assertEquals(phaseNames(byName.a), [
    "booted",
    "partitioned",
    "joined",
    "received",
    "configured",
    "rebooting",
    "post-install",
  ]);
  assertEquals(byName.a.phases[1].detail, "/dev/vda: 2 partitions");
  assertEquals(byName.a.phases[4].detail, "hostname a");
  assertMatch(byName.a.phases[6].detail, /^finished in \d+\.\d s$/);
  const times = byName.a.phases.map((p) => p.at);
  assertEquals(times, [...times].sort((x, y) => x - y), "phases are in the order the server saw them");
  const [position, count, bytes] = [String(byName.a.position), "3", String(report!.bytes)];
  assertEquals(await Deno.readTextFile(join(a, "etc/kad-node")), `a ${position}/${count} ${bytes}\n`);
  assertMatch(results[0].stderr, /kad-phase: configured hostname a/, "the step's output is echoed");

  assertEquals(results[1].code, 1, "a node whose post-install step failed exits 1");
  assertEquals(byName.b.status, "failed");
  assertEquals(byName.b.error?.code, "POST");
  assertMatch(byName.b.error!.message, /exited with status 3: grub-install: \/dev\/vda: no such disk/);
  assertEquals(phaseNames(byName.b), ["booted", "joined", "received", "configured", "post-install!"]);
  assertEquals(await Deno.readTextFile(join(b, "etc/hostname")), "golden\n", "its copy is still there");

  assertEquals(results[2].code, 0, results[2].stderr);
  assertEquals(byName.c.status, "ok");
  assertEquals(phaseNames(byName.c), ["joined", "received"]);
  const phaseEvents = server.events.filter((e) => e.event === "phase" && e.name === "a");
  assertEquals(phaseEvents.length, 7, "each phase is also an event, as it happens");
});

Deno.test("phases: a node that dies during its post-install step → POST (lost), the server ends; a step past --post-install-timeout → POST", async () => {
  await using dir = await tempDir();
  const source = await sourceTree(dir.path);
  const [a, b] = await targets(dir.path, ["a", "b"]);
  const server = new KadServer(variant, [source, "--clients", "2", "--timeout", "20"]);
  const port = await server.port;
  const dying = startJoin(variant, port, "a", ["--to", a], [
    "--post-install",
    "echo kad-phase: configured; sleep 5",
  ]);
  const slow = startJoin(variant, port, "b", ["--to", b], [
    "--post-install",
    "sleep 20",
    "--post-install-timeout",
    "1",
  ]);
  for (let i = 0; i < 200; i++) {
    if (server.events.some((e) => e.event === "phase" && e.name === "a" && e.phase === "configured")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  dying.kill("SIGKILL");
  const [slowResult] = await Promise.all([slow.result(), dying.result()]);
  const { code, report } = await server.result(30_000);
  assertEquals(code, 1);
  const byName = Object.fromEntries(report!.nodes.map((n) => [n.name, n]));
  assertEquals(byName.a.error?.code, "POST");
  assertMatch(byName.a.error!.message, /^Lost during the post-install step/);
  assertEquals(byName.b.error?.code, "POST");
  assertMatch(byName.b.error!.message, /did not finish within 1 s/);
  assertEquals(slowResult.code, 1);
  assert(byName.a.bytes === report!.bytes && byName.b.bytes === report!.bytes, "both copies were verified");
});
