/**
 * The post-install step: a real `sh -c` with KAD_* variables, its phase lines, exit status,
 * time limit and interruption.
 */

import { type PostInstallHooks, runPostInstall } from "../../lib/node/post_install.ts";
import type { PhaseNote } from "../../lib/report/phase.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";

function recorder(env: Record<string, string> = {}, signal?: AbortSignal) {
  const phases: PhaseNote[] = [];
  const lines: string[] = [];
  const hooks: PostInstallHooks = {
    env,
    signal,
    onPhase: (note) => phases.push(note),
    onOutput: (line) => lines.push(line),
  };
  return { phases, lines, hooks };
}

Deno.test("post-install: phases in the order printed, stderr merged into the output, KAD_* set → ok", async () => {
  const r = recorder({ KAD_NODE: "n7", KAD_POSITION: "2" });
  const error = await runPostInstall({
    command:
      'echo "kad-phase: configured as $KAD_NODE"; echo warning >&2; echo "kad-phase: rebooting at $KAD_POSITION"',
    timeoutMs: 10_000,
  }, r.hooks);
  assertEquals(error, null);
  assertEquals(r.phases, [
    { phase: "configured", detail: "as n7" },
    { phase: "rebooting", detail: "at 2" },
  ]);
  assertEquals(r.lines, ["kad-phase: configured as n7", "warning", "kad-phase: rebooting at 2"]);
});

Deno.test("post-install: a non-zero exit → POST with the status and the last line it printed", async () => {
  const r = recorder();
  const error = await runPostInstall({
    command: "echo kad-phase: configured; echo 'grub-install: /dev/vda: no such disk' >&2; exit 3",
    timeoutMs: 10_000,
  }, r.hooks);
  assertEquals(error?.code, "POST");
  assertMatch(error!.message, /exited with status 3: grub-install: \/dev\/vda: no such disk$/);
  assertEquals(r.phases.map((p) => p.phase), ["configured"]);
});

Deno.test("post-install: past its time limit it is killed with its whole process group → POST", async () => {
  const r = recorder();
  const started = performance.now();
  const error = await runPostInstall({ command: "sleep 30 & sleep 30; wait", timeoutMs: 300 }, r.hooks);
  assertEquals(error, { code: "POST", message: "post-install did not finish within 0.3 s" });
  assert(performance.now() - started < 5000, "killed promptly");
});

Deno.test("post-install: an interrupt stops it → ABORT", async () => {
  const abort = new AbortController();
  const r = recorder({}, abort.signal);
  setTimeout(() => abort.abort(), 200);
  const error = await runPostInstall(
    { command: "echo kad-phase: configured; sleep 30", timeoutMs: 10_000 },
    r.hooks,
  );
  assertEquals(error?.code, "ABORT");
  assertEquals(r.phases.map((p) => p.phase), ["configured"]);
});

Deno.test("post-install: an overlong line is split, nothing is lost, output without a final newline still arrives", async () => {
  const r = recorder();
  await runPostInstall({
    command: "printf '%10000s' '' | tr ' ' x; printf 'tail'",
    timeoutMs: 10_000,
  }, r.hooks);
  assertEquals(r.lines.map((l) => l.length), [4096, 4096, 1812]);
  assert(r.lines.join("") === "x".repeat(10000) + "tail", "every byte arrives, in order");
});

Deno.test("post-install: the join token in KAD_TOKEN is not passed on; other variables are", async () => {
  Deno.env.set("KAD_TOKEN", "secret-token-0123456789");
  Deno.env.set("KAD_TEST_INHERITED", "yes");
  try {
    const r = recorder({ KAD_NODE: "n1" });
    const error = await runPostInstall({
      command: 'echo "token=${KAD_TOKEN:-none} inherited=$KAD_TEST_INHERITED node=$KAD_NODE"',
      timeoutMs: 10_000,
    }, r.hooks);
    assertEquals(error, null);
    assertEquals(r.lines, ["token=none inherited=yes node=n1"]);
  } finally {
    Deno.env.delete("KAD_TOKEN");
    Deno.env.delete("KAD_TEST_INHERITED");
  }
});
