import { StallDetector } from "../../lib/server/stall_detector.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

const OPTIONS = { stallMs: 3000, waitMs: 30_000, checkEveryMs: 250 };

/** Nodes `names`, streaming, that heartbeat every second from t=0 to `until` (ms); checks every 250 ms. */
function run(
  detector: StallDetector,
  names: string[],
  until: number,
  silent: (name: string, t: number) => boolean = () => false,
): Map<number, string[]> {
  for (const name of names) detector.watch(name, 0);
  const failed = new Map<number, string[]>();
  for (let t = 0; t <= until; t += 250) {
    if (t % 1000 === 0) { for (const name of names) if (!silent(name, t)) detector.heard(name, t, true); }
    const overdue = detector.overdue(t).map((o) => o.node);
    for (const name of overdue) detector.forget(name);
    if (overdue.length) failed.set(t, overdue);
  }
  return failed;
}

Deno.test("stall detector: a streaming node silent past 3 s while the others heartbeat → hung within 3–4 s", () => {
  const failed = run(
    new StallDetector(OPTIONS),
    ["a", "b", "c"],
    20_000,
    (name, t) => name === "b" && t >= 5000,
  );
  assertEquals([...failed], [[7250, ["b"]]], "last heard at 4 s");
});

Deno.test("stall detector: every node silent at once is the server's or the machine's stall, waited out up to the peer timeout", () => {
  const detector = new StallDetector(OPTIONS);
  const failed = run(detector, ["a", "b", "c"], 20_000, (_, t) => t >= 5000 && t < 15_000);
  assertEquals([...failed], [], "nobody fails for a general silence of 10 s");
  const forever = run(new StallDetector(OPTIONS), ["a", "b", "c"], 40_000, (_, t) => t >= 5000);
  assertEquals([...forever.keys()], [34_250], "a silence longer than the peer timeout fails them");
});

Deno.test("stall detector: time the server itself did not run is nobody's silence", () => {
  const detector = new StallDetector(OPTIONS);
  detector.watch("a", 0);
  detector.watch("b", 0);
  detector.heard("a", 1000, true);
  detector.heard("b", 1000, true);
  assertEquals(detector.overdue(1250), []);
  // the next check comes 5 s late: the server was stopped, not the nodes
  assertEquals(detector.overdue(6500), []);
  const failed: string[] = [];
  for (let t = 6750; t <= 10_000; t += 250) {
    if (t % 1000 === 0) detector.heard("a", t, true);
    for (const { node } of detector.overdue(t)) {
      failed.push(`${node}@${t}`);
      detector.forget(node);
    }
  }
  // b was last heard at 1 s, and the 5 s the server stood still are not counted: hung at 9.25 s
  assertEquals(failed, ["b@9250"]);
});

Deno.test("stall detector: heartbeats arriving 2.5 s apart (a starved machine) stretch the limit", () => {
  const detector = new StallDetector(OPTIONS);
  for (const name of ["a", "b"]) detector.watch(name, 0);
  // gaps of 1.5 and 3.5 s in turn
  for (let t = 0, i = 0; t <= 30_000; t += i++ % 2 ? 3500 : 1500) {
    detector.heard("a", t, true);
    detector.heard("b", t, true);
  }
  assert(detector.stallMs > 5000, `limit ${detector.stallMs} ms`);
});

Deno.test("stall detector: a node not streaming yet (linking, waiting for its upstream) gets the peer timeout", () => {
  const detector = new StallDetector(OPTIONS);
  detector.watch("a", 0);
  detector.watch("b", 0);
  let failedAt = 0;
  for (let t = 0; t <= 31_000 && failedAt === 0; t += 250) {
    if (t % 1000 === 0) detector.heard("b", t, true);
    if (detector.overdue(t).some((o) => o.node === "a")) failedAt = t;
  }
  assertEquals(failedAt, 30_250);
});
