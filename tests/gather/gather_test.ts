/**
 * Gathers through the library, on loopback: nodes (runGatherNode) send to a head's end
 * (runGatherRoot) over real sockets, with real shells and merge commands.
 */

import { join } from "node:path";
import { GatherInbox } from "../../lib/gather/gather_inbox.ts";
import { runGatherNode } from "../../lib/gather/gather_node.ts";
import { runGatherRoot } from "../../lib/gather/gather_root.ts";
import { gatherTree } from "../../lib/gather/gather_tree.ts";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "../../lib/net/timeouts.ts";
import { type GatherSource, newJobId } from "../../lib/protocol/agent_messages.ts";
import { randomKey } from "../../lib/security/key_derivation.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { BitFlipProxy } from "../_helpers/bit_flip_proxy.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const inbox = (timeoutMs = DEFAULT_CONNECT_TIMEOUT_MS) =>
  new GatherInbox(Deno.listen({ hostname: "127.0.0.1", port: 0 }), timeoutMs);

/**
 * A gather of `sources` (one per node, n1…) merged by `merge` along a tree of `fanout`; `via`
 * may put something between a node and its parent. Resolves with the head's result.
 */
async function gather(
  to: string,
  sources: GatherSource[],
  merge: string | null,
  options: { fanout?: number; via?: (node: string, port: number) => number; timeoutMs?: number } = {},
) {
  const job = newJobId();
  const key = randomKey();
  const nodes = sources.map((_, i) => `n${i + 1}`);
  const tree = gatherTree(nodes, merge === null ? Infinity : options.fanout ?? 2);
  const head = inbox(options.timeoutMs);
  const boxes = new Map(nodes.map((n) => [n, inbox(options.timeoutMs)]));
  try {
    const root = runGatherRoot({
      job,
      key,
      nodes,
      children: tree.rootChildren,
      merge,
      toDir: to,
      inbox: head,
    });
    const sent = nodes.map((node, i) => {
      const parent = tree.parentOf.get(node);
      const port = parent === undefined ? head.port : boxes.get(parent)!.port;
      return runGatherNode({
        job,
        node,
        key,
        parent: { host: "127.0.0.1", port: options.via?.(node, port) ?? port },
        children: tree.childrenOf.get(node)!,
        source: sources[i],
        merge,
        timeoutMs: options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      }, boxes.get(node)!).catch((error) => error);
    });
    const result = await root;
    await Promise.all(sent);
    return result;
  } finally {
    head.close();
    for (const box of boxes.values()) box.close();
  }
}

const seq = (first: number, step: number, last: number): GatherSource => ({
  type: "cmd",
  value: `seq ${first} ${step} ${last}`,
});

Deno.test("gather: 7 nodes merged by 'sort -n -m' along a tree of fan-out 2 → one sorted stream, all verified", async () => {
  await using dir = await tempDir();
  const sources = Array.from({ length: 7 }, (_, i) => seq(i + 1, 7, 70_000));
  const result = await gather(dir.path, sources, "sort -n -m");
  assert(result.verdicts.every((v) => v.status === "ok"), JSON.stringify(result.verdicts));
  const merged = (await Deno.readTextFile(join(dir.path, "merged"))).trim().split("\n").map(Number);
  assertEquals(merged, Array.from({ length: 70_000 }, (_, i) => i + 1));
});

Deno.test("gather: a merge that stops reading early → its inputs failed, merged.incomplete, nothing hangs", async () => {
  await using dir = await tempDir();
  const result = await gather(dir.path, [seq(1, 1, 500_000), seq(1, 1, 500_000)], "head -q -n 1");
  assertEquals(result.verdicts.map((v) => v.status), ["failed", "failed"]);
  assertEquals(await Deno.readTextFile(join(dir.path, "merged.incomplete")), "1\n1\n");
});

Deno.test("gather: a node that never links → failed after the connect limit; the others merged", async () => {
  await using dir = await tempDir();
  const dead = Deno.listen({ hostname: "127.0.0.1", port: 0 }); // n2 sends there: nobody answers for the head
  try {
    const result = await gather(dir.path, [seq(1, 2, 99), seq(2, 2, 100)], "sort -n -m", {
      timeoutMs: 1000,
      via: (node, port) => node === "n2" ? (dead.addr as Deno.NetAddr).port : port,
    });
    assertEquals(result.verdicts.map((v) => [v.node, v.status]), [["n1", "ok"], ["n2", "failed"]]);
    assertMatch(result.verdicts[1].error, /never linked/);
    assertEquals(await Deno.readTextFile(join(dir.path, "merged.incomplete")), await run("seq 1 2 99"));
  } finally {
    dead.close();
  }
});

Deno.test("gather: a bit flipped on a node's link → that node fails authentication; the others are copied", async () => {
  await using dir = await tempDir();
  let proxy: BitFlipProxy | null = null;
  const result = await gather(dir.path, [seq(1, 1, 100_000), seq(1, 1, 100_000)], null, {
    via: (node, port) => {
      if (node !== "n2") return port;
      proxy = new BitFlipProxy({ host: "127.0.0.1", port }, 5000);
      return proxy.port;
    },
  });
  await (proxy as BitFlipProxy | null)?.[Symbol.asyncDispose]();
  assertEquals(result.verdicts.map((v) => v.status), ["ok", "failed"]);
  assertMatch(result.verdicts[1].error, /failed authentication/);
  assertEquals(await Deno.readTextFile(join(dir.path, "n1")), await run("seq 1 1 100000"));
  await Deno.stat(join(dir.path, "n2")).then(() => assert(false, "no copy of n2"), () => {});
});

async function run(command: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", command], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}
