/**
 * The compiled binary, when `deno compile` can get its runtime (denort): offline it cannot
 * download one, so the test runs only with DENORT_BIN set or a cached runtime, and says so.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { assertEquals, assertMatch } from "../_helpers/assert.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const output = join(await Deno.makeTempDir({ prefix: "kad-compile-" }), "kad");
// the very command of `deno task compile`, with the output moved to a temporary directory
const task: string = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).tasks.compile;
const compiled = await new Deno.Command(Deno.execPath(), {
  args: task.split(" ").slice(1).map((arg) => arg === "dist/kad" ? output : arg),
  cwd: ROOT,
  stdout: "null",
  stderr: "piped",
}).output();
const reason = compiled.success
  ? ""
  : new TextDecoder().decode(compiled.stderr).split("\n").find((l) => /error/i.test(l)) ?? "unknown";
if (!compiled.success) {
  console.warn(
    `compiled-binary test SKIPPED: deno compile could not build kad (${reason.trim()}); ` +
      "set DENORT_BIN to a denort runtime to run it",
  );
}

Deno.test({
  name: "compiled binary: kad --version and a one-node deployment run without deno installed",
  ignore: !compiled.success,
  fn: async () => {
    const version = await new Deno.Command(output, { args: ["--version"], stdout: "piped" }).output();
    assertMatch(new TextDecoder().decode(version.stdout), /^kad \d+\.\d+\.\d+\n$/);
    const demo = await new Deno.Command(output, {
      args: ["demo", "--nodes", "2"],
      stdout: "piped",
      env: { PATH: "/usr/bin:/bin" },
    })
      .output();
    assertEquals(demo.code, 0);
  },
});

globalThis.addEventListener("unload", () => {
  Deno.removeSync(join(output, ".."), { recursive: true });
});
