/**
 * Chaos: nodes killed, stopped, cut off or full mid-stream. Every node reported ok must hold a
 * byte-identical copy (checked against the source); every other node is failed with the right code.
 */

import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { ChaosRun } from "../_helpers/chaos.ts";
import { kadVariants } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const variant = kadVariants()[0];
const SIX = ["n1", "n2", "n3", "n4", "n5", "n6"];

for (const [victim, when] of [[0, 0.1], [2, 0.5], [5, 0.9]] as const) {
  Deno.test(`chaos: node ${victim + 1} of 6 killed -9 at ${when * 100} % → it NNF, the 5 others ok (repaired)`, async () => {
    await using run = new ChaosRun(variant, { names: SIX });
    await run.start();
    let killedAt = 0;
    await run.feed((fraction) => {
      if (killedAt === 0 && fraction >= when) {
        run.nodes[SIX[victim]].kill("SIGKILL");
        killedAt = performance.now();
      }
    });
    const { code, byName, report } = await run.outcome();
    assertEquals(code, 1);
    for (const name of SIX) {
      if (name === SIX[victim]) assertEquals(byName[name].error?.code, "NNF");
      else assertEquals(byName[name].status, "ok", `${name}: ${byName[name].error?.message}`);
    }
    if (victim < 5) {
      const repair = report.repairs.find((r) => r.child === SIX[victim + 1])!;
      assertEquals(repair.failed, SIX[victim]);
      assertEquals(repair.upstream, victim === 0 ? "server" : SIX[victim - 1]);
      assertEquals(repair.error, null);
      assert(repair.seconds < 5, `repaired in ${repair.seconds} s`);
    }
  });
}

Deno.test("chaos: two adjacent nodes (3 and 4 of 6) killed -9 → both NNF, the 4 others ok", async () => {
  await using run = new ChaosRun(variant, { names: SIX });
  await run.start();
  await run.feed((fraction) => {
    if (fraction >= 0.4 && fraction < 0.45) {
      run.nodes.n3.kill("SIGKILL");
      run.nodes.n4.kill("SIGKILL");
    }
  });
  const { byName, report } = await run.outcome();
  assertEquals(byName.n3.error?.code, "NNF");
  assertEquals(byName.n4.error?.code, "NNF");
  for (const name of ["n1", "n2", "n5", "n6"]) assertEquals(byName[name].status, "ok", name);
  const last = report.repairs.filter((r) => r.child === "n5" && r.error === null).at(-1)!;
  assertEquals(last.upstream, "n2");
});

Deno.test("chaos: tree (fan-out 2), an inner node killed -9 → its parent adopts both its children, all others ok", async () => {
  // heap order, server → n1 n2; n1 → n3 n4; n2 → n5 n6; n3 → n7 n8
  const eight = [...SIX, "n7", "n8"];
  await using run = new ChaosRun(variant, { names: eight, serveArgs: ["--fanout", "2"] });
  await run.start();
  await run.feed((fraction) => {
    if (fraction >= 0.5 && fraction < 0.55) run.nodes.n3.kill("SIGKILL");
  });
  const { byName, report } = await run.outcome();
  assertEquals(byName.n3.error?.code, "NNF");
  for (const name of eight.filter((n) => n !== "n3")) assertEquals(byName[name].status, "ok", name);
  assertEquals(report.repairs.find((r) => r.child === "n7")?.upstream, "n1");
  assertEquals(report.repairs.find((r) => r.child === "n8")?.upstream, "n1");
});

Deno.test("chaos: a node stopped (SIGSTOP) past the stall timeout → TIMEOUT, the others ok, no hang", async () => {
  await using run = new ChaosRun(variant, { names: ["a", "b", "c"], serveArgs: ["--stall-timeout", "2"] });
  await run.start();
  let stoppedAt = 0;
  await run.feed((fraction) => {
    if (stoppedAt === 0 && fraction >= 0.3) {
      run.nodes.b.kill("SIGSTOP");
      stoppedAt = performance.now();
    }
  });
  while (!run.events.some((e) => e.event === "node-lost") && performance.now() - stoppedAt < 15_000) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const detectedAfter = performance.now() - stoppedAt;
  run.nodes.b.kill("SIGKILL");
  const { byName } = await run.outcome();
  assert(detectedAfter < 5_000, `declared hung ${detectedAfter} ms after the stop`);
  assertEquals(byName.b.error?.code, "TIMEOUT");
  assertEquals(byName.a.status, "ok");
  assertEquals(byName.c.status, "ok", byName.c.error?.message);
});

Deno.test("chaos: --abort-on-sink-error, a node's command dies → it leaves (LWF), the node behind is repaired", async () => {
  await using run = new ChaosRun(variant, {
    names: ["a", "b", "c"],
    sinks: { b: ["--cmd", "head -c 3000000 >/dev/null", "--abort-on-sink-error"] },
  });
  await run.start();
  await run.feed();
  const { byName, report } = await run.outcome();
  assertEquals(byName.b.error?.code, "LWF");
  assertMatch(byName.b.error!.message, /abort-on-sink-error/);
  assertEquals(byName.a.status, "ok");
  assertEquals(byName.c.status, "ok", byName.c.error?.message);
  assertEquals(report.repairs.find((r) => r.child === "c")?.upstream, "a");
});

Deno.test("chaos: the server killed -9 mid-stream → every node exits non-zero, no partial output left", async () => {
  await using run = new ChaosRun(variant, { names: ["a", "b", "c"] });
  await run.start();
  await run.feed((fraction) => {
    if (fraction >= 0.5) run.server.process.kill("SIGKILL");
  });
  const started = performance.now();
  for (const name of ["a", "b", "c"]) {
    const r = await run.nodes[name].result();
    assertEquals(r.code, 1, name);
    assert(!/^\s+at /m.test(r.stderr), r.stderr);
    await Deno.stat(run.outPath(name)).then(
      () => assert(false, `${name} left a file`),
      () => {},
    );
  }
  assert(performance.now() - started < 15_000);
});

Deno.test("chaos: --abort-on-node-failure → one node killed stops the whole deployment (ABORT)", async () => {
  await using run = new ChaosRun(variant, { names: ["a", "b", "c"], serveArgs: ["--abort-on-node-failure"] });
  await run.start();
  await run.feed((fraction) => {
    if (fraction >= 0.3) run.nodes.b.kill("SIGKILL");
  });
  const { code, report, byName } = await run.outcome();
  assertEquals(code, 1);
  assertEquals(report.error?.code, "ABORT");
  assertEquals(byName.a.status, "failed");
  assertEquals(byName.c.status, "failed");
});

const root = Deno.uid() === 0;
if (!root) console.warn("chaos: the full-file-system test is SKIPPED: mounting a tiny tmpfs needs root");

Deno.test({
  name: "chaos: a node's sink fills its tiny file system → it fails LWF, relays on, the others ok",
  ignore: !root,
  fn: async () => {
    await using tiny = await tempDir("kad-tiny-");
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "kadtiny", tiny.path],
    })
      .output();
    assert(mount.success, new TextDecoder().decode(mount.stderr));
    try {
      await using run = new ChaosRun(variant, { names: ["a", "b", "c"], outDirs: { b: tiny.path } });
      await run.start();
      await run.feed();
      const { byName, exits } = await run.outcome();
      assertEquals(byName.b.error?.code, "LWF");
      assertMatch(byName.b.error!.message, /space/i);
      assertEquals(exits.b.code, 1);
      assertEquals(byName.a.status, "ok");
      assertEquals(byName.c.status, "ok", byName.c.error?.message);
      assertEquals((await Array.fromAsync(Deno.readDir(tiny.path))).length, 0, "no partial file left");
    } finally {
      await new Deno.Command("umount", { args: [tiny.path] }).output();
    }
  },
});
