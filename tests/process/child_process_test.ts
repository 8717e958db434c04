import { ChildProcess } from "../../lib/process/child_process.ts";
import { KadError, SubprocessError } from "../../lib/errors.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../_helpers/assert.ts";

Deno.test("child process: a failure quotes the tool's reason, not its generic last line", async () => {
  const child = ChildProcess.spawn({
    program: "tar",
    args: ["-x", "-f", "-", "-C", "/nonexistent-kad-dir"],
    label: "tar -x",
    failureCode: "LWF",
    stdin: "piped",
    stdout: "null",
  });
  await child.closeInput();
  await assertRejects(() => child.wait(), (error: unknown) => {
    assert(error instanceof SubprocessError);
    assertEquals(error.code, "LWF");
    assert(
      /^tar -x exited with status 2: .*does not look like a tar archive/.test(error.message),
      error.message,
    );
    return true;
  });
});

Deno.test("child process: a missing program is a typed error", () => {
  assertThrows(
    () =>
      ChildProcess.spawn({
        program: "kad-no-such-program",
        args: [],
        label: "x",
        failureCode: "LRF",
        stdin: "null",
        stdout: "null",
      }),
    (error: unknown) =>
      error instanceof KadError && error.code === "LRF" && /program not found/.test(error.message),
  );
});

Deno.test("child process: stop kills the whole process group of a pipeline", async () => {
  const child = ChildProcess.spawn({
    program: "sh",
    args: ["-c", "sleep 60 | sleep 60"],
    label: "pipeline",
    failureCode: "LWF",
    stdin: "piped",
    stdout: "null",
  });
  await child.stop();
  const ps = new Deno.Command("ps", { args: ["-o", "stat=", "-g", String(child.pid)] }).outputSync();
  const alive = new TextDecoder().decode(ps.stdout).split("\n").filter((s) => s.trim() && !s.startsWith("Z"));
  assertEquals(alive, []);
});
