import { waitForStart } from "../../lib/server/start_trigger.ts";
import { assert, assertEquals, assertSettlesWithin } from "../_helpers/assert.ts";

/** A fake join counter: `join()` adds a node and wakes the trigger, as the server does. */
function nodes() {
  let count = 0;
  let wake: (() => void) | null = null;
  return {
    count: () => count,
    onJoin: (w: () => void) => wake = w,
    join: () => {
      count++;
      wake?.();
    },
  };
}

Deno.test("start trigger: --clients N starts as soon as the Nth node joins", async () => {
  const n = nodes();
  const started = waitForStart({ clients: 2 }, n.count, n.onJoin);
  n.join();
  n.join();
  await started;
  assertEquals(n.count(), 2);
});

Deno.test("start trigger: --wait S starts S seconds after the last join, not before the first", async () => {
  const n = nodes();
  const t0 = performance.now();
  const started = waitForStart({ waitSeconds: 0.2 }, n.count, n.onJoin);
  await new Promise((r) => setTimeout(r, 300));
  n.join();
  await started;
  assert(performance.now() - t0 >= 450, "the wait counts from the join");
});

Deno.test("start trigger: --min-clients holds --wait and Enter until enough nodes joined", async () => {
  const n = nodes();
  let pressed!: () => void;
  const manual = new Promise<void>((r) => pressed = r);
  let done = false;
  const started = waitForStart({ waitSeconds: 0.05, minClients: 2, manual }, n.count, n.onJoin).then(() =>
    done = true
  );
  n.join();
  pressed();
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(done, false, "one node is below the floor");
  n.join();
  await started;
  assertEquals(n.count(), 2);
});

Deno.test("start trigger: an abort ends the wait", async () => {
  const n = nodes();
  const abort = new AbortController();
  const started = waitForStart({ clients: 5 }, n.count, n.onJoin, abort.signal);
  abort.abort();
  await assertSettlesWithin(started, 1000, "the wait after an abort");
});
