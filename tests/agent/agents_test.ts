/**
 * `kad head`, `kad agent`, `kad run` and `kad gather` as users run them: real processes on
 * loopback, agents without --name (the head makes their names unique), real shells and tar.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { Agents, headClient, HeadProcess } from "../_helpers/agent_lab.ts";
import { KadProcess, kadVariants, TEST_TOKEN } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { writeRandomImage } from "../_helpers/random_image.ts";

const variant = kadVariants()[0];

/** A head on loopback with `count` agents connected. */
async function headWithAgents(count: number) {
  const head = new HeadProcess(variant);
  const port = await head.port;
  const agents = new Agents(Array(count).fill(variant), `127.0.0.1:${port}`);
  await head.connected(count);
  return { head, port, agents };
}

/** Each node's exit outcome from `kad run --json` events. */
function outcomes(events: Record<string, unknown>[]): Map<string, string> {
  return new Map(
    events.filter((e) => e.event === "exit").map((e) => [e.node as string, e.outcome as string]),
  );
}

Deno.test("agents: kad run on 3 agents, one command failing → its exit code in the table, exit 1", async () => {
  const { head, port, agents } = await headWithAgents(3);
  await using _h = head;
  await using _a = agents;
  await using dir = await tempDir();
  const flag = join(dir.path, "first");
  // the first node to take the file fails; the others print their line
  const command = `if mkdir ${flag} 2>/dev/null; then echo broken >&2; exit 3; fi; echo fine`;
  const { code, events } = await headClient(variant, ["run", "--head", `127.0.0.1:${port}`, "--", command]);
  assertEquals(code, 1);
  const exits = outcomes(events);
  assertEquals(exits.size, 3);
  assertEquals([...exits.values()].sort(), ["exit 0", "exit 0", "exit 3"]);
  const lines = events.filter((e) => e.event === "output");
  assertEquals(lines.filter((e) => e.line === "fine" && e.stream === "out").length, 2);
  assertEquals(lines.filter((e) => e.line === "broken" && e.stream === "err").length, 1);
});

Deno.test("agents: kad run --group folds identical output and prints the table of exit codes", async () => {
  const { head, port, agents } = await headWithAgents(3);
  await using _h = head;
  await using _a = agents;
  const { code, stdout, stderr } = await new KadProcess(variant, [
    "run",
    "--head",
    `127.0.0.1:${port}`,
    "--group",
    "--",
    "echo same; echo lines",
  ]).result();
  assertEquals(code, 0, stderr);
  assertMatch(stdout, /^-+\n.+ \(3\)\n-+\nsame\nlines\n$/);
  assertMatch(stderr, /kad run: 3 of 3 node\(s\) exited 0\n {2}exit 0 +.+ \(3\)/);
});

Deno.test("agents: --nodes names an agent that is not connected → 'not connected', exit 1", async () => {
  const { head, port, agents } = await headWithAgents(1);
  await using _h = head;
  await using _a = agents;
  const name = head.events.find((e) => e.event === "agent-joined")!.name as string;
  const { code, events } = await headClient(variant, [
    "run",
    "--head",
    `127.0.0.1:${port}`,
    "--nodes",
    `${name},ghost[1-2]`,
    "--",
    "true",
  ]);
  assertEquals(code, 1);
  assertEquals(
    [...outcomes(events)].sort(),
    [[name, "exit 0"], ["ghost1", "not connected"], ["ghost2", "not connected"]].sort(),
  );
});

Deno.test("agents: the head restarts on its port → agents reconnect under their names and take the next command", async () => {
  const first = new HeadProcess(variant);
  const port = await first.port;
  await using agents = new Agents([variant, variant], `127.0.0.1:${port}`);
  await first.connected(2);
  const names = first.events.filter((e) => e.event === "agent-joined").map((e) => e.name).sort();
  await first[Symbol.asyncDispose]();
  await using second = new HeadProcess(variant, "127.0.0.1", port);
  await second.connected(2);
  const { code, events } = await headClient(variant, ["run", "--head", `127.0.0.1:${port}`, "--", "true"]);
  assertEquals(code, 0);
  assertEquals([...outcomes(events).keys()].sort(), names);
  assert(agents.processes.length === 2);
});

Deno.test("agents: kad run interrupted → the command is stopped on every agent", async () => {
  const { head, port, agents } = await headWithAgents(2);
  await using _h = head;
  await using _a = agents;
  await using dir = await tempDir();
  const run = new KadProcess(variant, [
    "run",
    "--head",
    `127.0.0.1:${port}`,
    "--",
    `sleep 300 & echo $! > ${dir.path}/$$; wait`,
  ]);
  const pids = async () => {
    const files = [];
    for await (const entry of Deno.readDir(dir.path)) files.push(entry.name);
    return await Promise.all(
      files.map(async (f) => Number((await Deno.readTextFile(join(dir.path, f))).trim())),
    );
  };
  while ((await pids()).length < 2) await new Promise((r) => setTimeout(r, 100));
  run.kill("SIGINT");
  assertEquals((await run.result()).code, 130);
  const alive = (pid: number) => {
    try {
      Deno.kill(pid, "SIGCONT");
      return true;
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 50 && (await pids()).some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  assertEquals((await pids()).filter(alive), [], "every sleep was stopped");
});

Deno.test("gather: a directory from 3 agents → identical DIR/NODE/ trees; a failing command → its output kept as DIR/NODE, its node failed", async () => {
  const { head, port, agents } = await headWithAgents(3);
  await using _h = head;
  await using _a = agents;
  await using dir = await tempDir();
  const tree = join(dir.path, "tree");
  await Deno.mkdir(join(tree, "sub"), { recursive: true });
  await Deno.writeTextFile(join(tree, "sub", "a.txt"), "alpha\n");
  await writeRandomImage(join(tree, "b.bin"), 300_000);
  const to = join(dir.path, "got");
  const { code, events, stderr } = await headClient(variant, [
    "gather",
    tree,
    "--head",
    `127.0.0.1:${port}`,
    "--to",
    to,
  ]);
  assertEquals(code, 0, stderr);
  const verdicts = events.filter((e) => e.event === "verdict");
  assertEquals(verdicts.length, 3);
  assert(verdicts.every((v) => v.status === "ok"));
  for (const v of verdicts) {
    assertEquals(await Deno.readTextFile(join(to, v.node as string, "sub", "a.txt")), "alpha\n");
    assertEquals(
      await Deno.readFile(join(to, v.node as string, "b.bin")),
      await Deno.readFile(join(tree, "b.bin")),
    );
  }
  const out = join(dir.path, "cmd");
  const cmd = await headClient(variant, [
    "gather",
    "--cmd",
    "echo out; exit 4",
    "--head",
    `127.0.0.1:${port}`,
    "--to",
    out,
  ]);
  assertEquals(cmd.code, 1, "a command that failed fails its node");
  for (const v of cmd.events.filter((e) => e.event === "verdict")) {
    assertEquals(v.status, "failed");
    assertMatch(v.error as string, /exited with status 4/);
    assertEquals(await Deno.readTextFile(join(out, v.node as string)), "out\n");
  }
});

Deno.test("gather: --merge 'sort -m' of 3 presorted outputs along a tree → one sorted file", async () => {
  const { head, port, agents } = await headWithAgents(3);
  await using _h = head;
  await using _a = agents;
  await using dir = await tempDir();
  const to = join(dir.path, "got");
  // each node prints its own presorted numbers: every third number, from its pid modulo 3
  const { code, stderr } = await headClient(variant, [
    "gather",
    "--cmd",
    "seq $(( $$ % 3 + 1 )) 3 3000",
    "--merge",
    "sort -n -m",
    "--fanout",
    "1",
    "--head",
    `127.0.0.1:${port}`,
    "--to",
    to,
  ]);
  assertEquals(code, 0, stderr);
  const merged = (await Deno.readTextFile(join(to, "merged"))).trim().split("\n").map(Number);
  assertEquals(merged.length, 3000);
  assertEquals(merged, [...merged].sort((a, b) => a - b));
});

Deno.test("agents: a wrong token → kad run fails with AUTH in one line; kad head needs a token", async () => {
  const { head, port, agents } = await headWithAgents(1);
  await using _h = head;
  await using _a = agents;
  const wrong = await new KadProcess(variant, ["run", "--head", `127.0.0.1:${port}`, "--", "true"], {
    env: { KAD_TOKEN: `${TEST_TOKEN}-other` },
  }).result();
  assertEquals(wrong.code, 1);
  assertMatch(wrong.stderr, /^kad: AUTH: .*did not prove the join token.*\n$/);
  const tokenless = await new KadProcess(variant, ["head"], { env: { KAD_TOKEN: "" } }).result();
  assertEquals(tokenless.code, 2);
  assertMatch(tokenless.stderr, /No join token.*agents run commands as root/);
});

Deno.test("gather: an agent killed -9 mid-gather → that node failed, the others copied, exit 1", async () => {
  const { head, port, agents } = await headWithAgents(3);
  await using _h = head;
  await using _a = agents;
  await using dir = await tempDir();
  const flag = join(dir.path, "victim");
  const to = join(dir.path, "got");
  // the first node to take the flag says who it is (its agent's pid) and lingers mid-stream
  const command =
    `if mkdir ${flag} 2>/dev/null; then echo $PPID > ${flag}/pid; seq 1 1000; sleep 30; fi; seq 1 1000`;
  const gathering = headClient(variant, [
    "gather",
    "--cmd",
    command,
    "--head",
    `127.0.0.1:${port}`,
    "--to",
    to,
  ]);
  let pid = "";
  while (pid === "") pid = (await Deno.readTextFile(join(flag, "pid")).catch(() => "")).trim();
  Deno.kill(Number(pid), "SIGKILL");
  const { code, events } = await gathering;
  assertEquals(code, 1);
  const verdicts = events.filter((e) => e.event === "verdict");
  assertEquals(verdicts.map((v) => v.status).sort(), ["failed", "ok", "ok"]);
  const victim = verdicts.find((v) => v.status === "failed")!;
  assertMatch(victim.error as string, /agent lost|closed its gather link|Reading from/);
  for (const v of verdicts.filter((v) => v.status === "ok")) {
    assertEquals((await Deno.readTextFile(join(to, v.node as string))).split("\n").length, 1001);
  }
});
