/**
 * Late joiners in process: who is taken after the start, what a refused one is told, and the
 * roster that places them behind the planned nodes.
 */

import { LateJoins, Roster } from "../../lib/server/late_joins.ts";
import type { NodeSession } from "../../lib/server/node_session.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";

const IMAGE = { kind: "image" as const, path: "/srv/disk.img" };
const DIR = { kind: "dir" as const, path: "/srv/golden", excludes: [], defaultExcludes: true };
const session = (name: string) => ({ node: { name } }) as unknown as NodeSession;

Deno.test("late joins: before the start nobody is late; after it an image's joiner is taken", () => {
  const late = new LateJoins(true, IMAGE, false);
  assertEquals(late.refusal("n9", null), null);
  late.started();
  assert(late.isLate);
  assertEquals(late.refusal("n9", null), null, "an image can be read again");
  assertEquals(late.refusal("n9", true), null);
});

Deno.test("late joins: a stream whose first bytes are gone refuses them, naming what would take them", () => {
  const late = new LateJoins(true, DIR, false);
  late.started();
  assertMatch(
    late.refusal("n9", false)!,
    /first bytes are gone \(the tar stream of \/srv\/golden cannot be read/,
  );
  assertMatch(
    late.refusal("n9", false)!,
    /serve an --image file or block device, or give kad serve a --ring/,
  );
  assertEquals(late.refusal("n9", true), null, "while the server's ring still holds the first byte");
  const compressed = new LateJoins(true, IMAGE, true);
  compressed.started();
  assertMatch(compressed.refusal("n9", null)!, /the compressed stream of \/srv\/disk\.img/);
});

Deno.test("late joins: --late-joins no refuses them all; after the end nobody is taken", () => {
  const off = new LateJoins(false, IMAGE, false);
  off.started();
  assertMatch(off.refusal("n9", true)!, /too late \(kad serve --late-joins no\)/);
  const late = new LateJoins(true, IMAGE, false);
  late.started();
  late.close();
  assertMatch(late.refusal("n9", true)!, /The deployment has ended/);
});

Deno.test("late joins: an admitted joiner waits for the stream, then is grafted; one in time is not", () => {
  const late = new LateJoins(true, IMAGE, false);
  late.admit("early");
  late.started();
  late.admit("late-1");
  const grafted: string[] = [];
  late.accepted(session("early"));
  late.accepted(session("late-1"));
  assertEquals(grafted.length, 0);
  late.open((s) => void grafted.push(s.node.name));
  assertEquals(grafted, ["late-1"], "the waiting one, once the stream is under way");
  late.admit("late-2");
  late.accepted(session("late-2"));
  assertEquals(grafted, ["late-1", "late-2"]);
});

Deno.test("roster: late joiners come after the planned nodes, fed by the server", async () => {
  const roster = new Roster([{ name: "a", position: 1, upstream: "server", children: [] }]);
  assertEquals(roster.addLate("z"), { name: "z", position: 2, upstream: "server", children: [] });
  assertEquals(roster.find("z")?.position, 2);
  // every member's end is awaited, those that come while waiting too
  const ends = new Map<string, () => void>();
  const promises = new Map<string, Promise<void>>();
  const ended = (name: string) => {
    if (!promises.has(name)) promises.set(name, new Promise<void>((resolve) => ends.set(name, resolve)));
    return promises.get(name)!;
  };
  let done = false;
  const all = roster.allEnded(ended).then(() => done = true);
  await Promise.resolve();
  roster.addLate("y");
  ends.get("a")!();
  ends.get("z")!();
  await new Promise((r) => setTimeout(r, 10));
  assertEquals(done, false, "y is still running");
  ends.get("y")!();
  await all;
  assertEquals(done, true);
});
