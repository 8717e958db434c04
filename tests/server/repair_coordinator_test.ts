/**
 * The repair coordinator in process, with no permissions: events in, commands out, as tables.
 */

import type { CoordinatorCommand, CoordinatorEvent } from "../../lib/server/repair_commands.ts";
import { RepairCoordinator } from "../../lib/server/repair_coordinator.ts";
import { planTopology } from "../../lib/topology/planner.ts";
import { assertEquals } from "../_helpers/assert.ts";

const LOST = { code: "NNF" as const, message: "gone" };

/** A coordinator over nodes `names` (in that order), fan-out `fanout`, keys 1, 2, 3… */
function coordinator(names: string[], options: { fanout?: number; abortOnNodeFailure?: boolean } = {}) {
  let key = 0;
  const plan = planTopology(names.map((name, joinIndex) => ({ name, joinIndex })), {
    fanout: options.fanout ?? 1,
    order: "join",
  });
  return new RepairCoordinator(plan, {
    abortOnNodeFailure: options.abortOnNodeFailure ?? false,
    relinkGraceMs: 1000,
    newKey: () => new Uint8Array([++key]),
  });
}

/** Commands in a compact, readable form. */
function brief(commands: CoordinatorCommand[]): string[] {
  return commands.map((c) => {
    switch (c.type) {
      case "drop":
        return `drop ${c.to}: ${c.node}, adopt [${c.adopt.map((a) => `${a.child}#${a.key?.[0]}`).join(" ")}]`;
      case "new-upstream":
        return `new-upstream ${c.to} ← ${c.upstream}#${c.key?.[0]}`;
      case "server-drop":
        return `server-drop ${c.node}`;
      case "server-adopt":
        return `server-adopt [${
          c.adopt.map((a) => `${a.child}#${a.key?.[0]}${a.fromHistory ? " from history" : ""}`).join(" ")
        }] release ${c.released || "-"}`;
      case "fail-node":
        return `fail ${c.node} ${c.code}`;
      case "lost":
        return `lost ${c.node}`;
      case "moved":
        return `moved ${c.node} from ${c.from}`;
      case "repaired":
        return `repaired ${c.repair.child} by ${c.repair.upstream}${
          c.repair.error ? ` FAILED ${c.repair.error.code}` : ""
        }`;
      case "abort":
        return `abort: ${c.reason.message}`;
      case "wake":
        return `wake at ${c.at}`;
      case "grafted":
        return `grafted ${c.node} from ${c.offset}${c.error ? ` FAILED ${c.error.code}` : ""}`;
    }
  });
}

function run(c: RepairCoordinator, steps: [number, CoordinatorEvent][]): string[] {
  return steps.flatMap(([now, event]) => brief(c.handle(event, now)));
}

Deno.test("coordinator: the head of a chain lost → the server drops it and feeds the next node itself", () => {
  const c = coordinator(["a", "b", "c"]); // keys 1–3: server→a, a→b, b→c
  assertEquals(run(c, [[0, { type: "node-lost", node: "a", reason: LOST }]]), [
    "lost a",
    "new-upstream b ← server#4",
    "server-drop a",
    "server-adopt [b#4] release a",
  ]);
  assertEquals(run(c, [[12, { type: "adopted", by: "server", child: "b", offset: 500, resent: 20 }]]), [
    "repaired b by server",
  ]);
  assertEquals(c.repairs[0], {
    failed: "a",
    child: "b",
    upstream: "server",
    offset: 500,
    resentBytes: 20,
    seconds: 0.012,
    error: null,
  });
  assertEquals(c.upstreamOf("b"), "server");
});

Deno.test("coordinator: a middle node lost → its upstream drops it and adopts the node behind", () => {
  const c = coordinator(["a", "b", "c", "d"]);
  assertEquals(run(c, [[0, { type: "node-lost", node: "b", reason: LOST }]]), [
    "lost b",
    "new-upstream c ← a#5",
    "drop a: b, adopt [c#5]",
  ]);
  assertEquals(c.topology.childrenOf("a"), ["c"]);
});

Deno.test("coordinator: two adjacent nodes lost → the first live ancestor adopts what the second fed", () => {
  const c = coordinator(["a", "b", "c", "d"]);
  assertEquals(
    run(c, [
      [0, { type: "node-lost", node: "b", reason: LOST }],
      [5, { type: "node-lost", node: "c", reason: LOST }],
    ]),
    [
      "lost b",
      "new-upstream c ← a#5",
      "drop a: b, adopt [c#5]",
      "lost c",
      "new-upstream d ← a#6",
      "drop a: c, adopt [d#6]",
    ],
  );
  assertEquals(run(c, [[9, { type: "adopted", by: "a", child: "d", offset: 1, resent: 1 }]]), [
    "repaired d by a",
  ]);
  assertEquals(c.repairs.map((r) => `${r.failed}→${r.child}`), ["c→d"], "c's own repair ended with it");
});

Deno.test("coordinator: an adoption that fails (GAP) falls back to the server; when the server fails too, the child fails GAP", () => {
  const c = coordinator(["a", "b", "c"]);
  const gap = { code: "GAP" as const, message: "not retained" };
  assertEquals(
    run(c, [
      [0, { type: "node-lost", node: "b", reason: LOST }],
      [3, { type: "adopt-failed", by: "a", child: "c", offset: 100, reason: gap }],
      [7, { type: "adopt-failed", by: "server", child: "c", offset: 100, reason: gap }],
    ]),
    [
      "lost b",
      "new-upstream c ← a#4",
      "drop a: b, adopt [c#4]",
      "new-upstream c ← server#5",
      "server-adopt [c#5] release -",
      "repaired c by server FAILED GAP",
      "fail c GAP",
    ],
  );
  assertEquals(c.repairs[0].seconds, 0.007, "the repair keeps the time it was first decided");
});

Deno.test("coordinator: a node whose upstream link broke is relinked to the same upstream after the grace", () => {
  const c = coordinator(["a", "b", "c"]);
  const lost = {
    type: "upstream-lost" as const,
    node: "c",
    upstream: "b",
    reason: { code: "NRF" as const, message: "reset" },
  };
  // a tick before the grace ends only asks again to be woken when it does
  assertEquals(run(c, [[0, lost], [500, { type: "tick" }]]), ["wake at 1000", "wake at 1000"]);
  assertEquals(run(c, [[1000, { type: "tick" }]]), ["new-upstream c ← b#4", "drop b: c, adopt [c#4]"]);
  // the upstream is lost within the grace: the loss repairs it, the relink does not happen
  const d = coordinator(["a", "b", "c"]);
  assertEquals(
    run(d, [
      [0, lost],
      [300, { type: "node-lost", node: "b", reason: LOST }],
      [1000, { type: "tick" }],
    ]),
    ["wake at 1000", "lost b", "new-upstream c ← a#4", "drop a: b, adopt [c#4]"],
  );
});

Deno.test("coordinator: --abort-on-node-failure → the first loss aborts the deployment, once, and nothing is repaired", () => {
  const c = coordinator(["a", "b", "c"], { abortOnNodeFailure: true });
  assertEquals(
    run(c, [
      [0, { type: "node-lost", node: "b", reason: LOST }],
      [1, { type: "reported", node: "c", error: { code: "NRF", message: "cut off" } }],
    ]),
    ["lost b", "abort: Node b failed (NNF: gone); aborting (--abort-on-node-failure)"],
  );
});

Deno.test("coordinator: a hung inner node of a tree → its parent adopts its child; a hung head → the server adopts both its children", () => {
  const c = coordinator(["n1", "n2", "n3", "n4", "n5", "n6", "n7"], { fanout: 2 }); // n1 feeds n3 n4
  assertEquals(
    run(c, [[0, { type: "node-lost", node: "n3", reason: { code: "TIMEOUT", message: "hung" } }]]),
    [
      "lost n3",
      "new-upstream n7 ← n1#8",
      "drop n1: n3, adopt [n7#8]",
    ],
  );
  const d = coordinator(["n1", "n2", "n3", "n4", "n5", "n6", "n7"], { fanout: 2 });
  assertEquals(
    run(d, [[0, { type: "node-lost", node: "n1", reason: { code: "TIMEOUT", message: "hung" } }]]),
    [
      "lost n1",
      "new-upstream n3 ← server#8",
      "new-upstream n4 ← server#9",
      "server-drop n1",
      "server-adopt [n3#8 n4#9] release n1",
    ],
  );
});

Deno.test("coordinator: a node that finished cannot adopt; one that finishes before feeding hands its child on", () => {
  const c = coordinator(["a", "b", "c"]);
  // a reported (finished): b's loss goes to the server
  assertEquals(
    run(c, [
      [0, { type: "reported", node: "a", error: null }],
      [1, { type: "node-lost", node: "b", reason: LOST }],
    ]),
    ["lost b", "new-upstream c ← server#4", "drop a: b, adopt []", "server-adopt [c#4] release b"],
  );
  const d = coordinator(["a", "b", "c"]);
  assertEquals(
    run(d, [
      [0, { type: "node-lost", node: "b", reason: LOST }],
      [2, { type: "reported", node: "a", error: null }],
    ]),
    [
      "lost b",
      "new-upstream c ← a#4",
      "drop a: b, adopt [c#4]",
      "new-upstream c ← server#5",
      "server-adopt [c#5] release -",
    ],
  );
});

Deno.test("coordinator: once the stream failed, nothing is repaired", () => {
  const c = coordinator(["a", "b", "c"]);
  assertEquals(
    run(c, [
      [0, { type: "stream-failed" }],
      [1, { type: "node-lost", node: "b", reason: LOST }],
    ]),
    ["lost b"],
  );
});

Deno.test("coordinator: a tick that comes a hair early asks to be woken again; the relink still happens", () => {
  const c = coordinator(["a", "b", "c"]);
  const lost = {
    type: "upstream-lost" as const,
    node: "c",
    upstream: "b",
    reason: { code: "NRF" as const, message: "reset" },
  };
  assertEquals(run(c, [[0, lost], [999.9, { type: "tick" }]]), ["wake at 1000", "wake at 1000"]);
  assertEquals(run(c, [[1000, { type: "tick" }]]), ["new-upstream c ← b#4", "drop b: c, adopt [c#4]"]);
});

Deno.test("coordinator: a late joiner is grafted under the server, fed from the start, and not counted a repair", () => {
  const c = coordinator(["a", "b"]);
  assertEquals(run(c, [[0, { type: "joined-late", node: "z" }]]), ["server-adopt [z#3] release -"]);
  assertEquals([c.upstreamOf("z"), c.linkKey("server", "z")?.[0]], ["server", 3]);
  assertEquals(run(c, [[40, { type: "adopted", by: "server", child: "z", offset: 0, resent: 9000 }]]), [
    "grafted z from 0",
  ]);
  assertEquals(c.repairs, []);
  // once in, it is repaired around like any node: lost, nobody to adopt
  assertEquals(run(c, [[50, { type: "node-lost", node: "z", reason: LOST }]]), [
    "lost z",
    "server-drop z",
    "server-adopt [] release z",
  ]);
});

Deno.test("coordinator: a lost member come back is fed by the server from what it holds, recorded as its own repair", () => {
  const c = coordinator(["a", "b", "c"]);
  run(c, [[0, { type: "node-lost", node: "b", reason: LOST }]]);
  assertEquals(run(c, [[100, { type: "joined-late", node: "b", rejoin: true }]]), [
    "server-adopt [b#5] release -",
  ]);
  assertEquals(run(c, [[130, { type: "adopted", by: "server", child: "b", offset: 700, resent: 20 }]]), [
    "repaired b by server",
  ]);
  assertEquals(c.repairs.at(-1), {
    failed: "b",
    child: "b",
    upstream: "server",
    offset: 700,
    resentBytes: 20,
    seconds: 0.03,
    error: null,
  });
});

Deno.test("coordinator: a late joiner the server cannot feed (its bytes are gone) fails GAP", () => {
  const c = coordinator(["a"]);
  const gap = { code: "GAP" as const, message: "offset 0 is no longer retained" };
  run(c, [[0, { type: "joined-late", node: "z" }]]);
  assertEquals(run(c, [[5, { type: "adopt-failed", by: "server", child: "z", offset: 0, reason: gap }]]), [
    "grafted z from 0 FAILED GAP",
    "fail z GAP",
  ]);
});

Deno.test("coordinator: once the stream failed, a late joiner is not grafted", () => {
  const c = coordinator(["a"]);
  assertEquals(run(c, [[0, { type: "stream-failed" }], [1, { type: "joined-late", node: "z" }]]), []);
});

Deno.test("coordinator: a slow node in a chain of 4 → its child goes to its upstream, the server feeds it from history, once", () => {
  const c = coordinator(["n1", "n2", "n3", "n4"]);
  const slow = { code: "NWF" as const, message: "slow" };
  assertEquals(run(c, [[100, { type: "slow", node: "n2", reason: slow }]]), [
    "moved n2 from n1",
    "drop n2: n3, adopt []",
    "new-upstream n3 ← n1#5",
    "drop n1: n2, adopt [n3#5]",
    "new-upstream n2 ← server#6",
    "server-adopt [n2#6 from history] release -",
  ]);
  assertEquals([c.upstreamOf("n2"), c.upstreamOf("n3")], ["server", "n1"]);
  assertEquals(c.topology.childrenOf("n2"), []);
  // moved once; and a node already being repaired, or finished, is not moved
  assertEquals(run(c, [[200, { type: "slow", node: "n2", reason: slow }]]), []);
  assertEquals(run(c, [[300, { type: "slow", node: "n3", reason: slow }]]), []);
  assertEquals(
    run(c, [[400, { type: "reported", node: "n4", error: null }], [
      500,
      { type: "slow", node: "n4", reason: slow },
    ]]),
    [],
  );
});
