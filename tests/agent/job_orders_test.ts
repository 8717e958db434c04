import { jobOrders, type OrderTarget } from "../../lib/agent/job_orders.ts";
import { gatherKeyContext } from "../../lib/gather/gather_link.ts";
import { newJobId } from "../../lib/protocol/agent_messages.ts";
import { randomKey } from "../../lib/security/key_derivation.ts";
import { openKey } from "../../lib/security/sealed_key.ts";
import { assertEquals } from "../_helpers/assert.ts";

const targets: OrderTarget[] = ["n1", "n2", "n3"].map((name, i) => ({
  name,
  host: `10.0.0.${i + 1}`,
  port: 4000 + i,
  sealKey: randomKey(),
}));
const client = randomKey();

Deno.test("job orders: a run → the same command to every agent; the plan names the missing", () => {
  const job = newJobId();
  const { plan, orders } = jobOrders(
    { kind: "run", job, command: "uptime", nodes: null },
    targets,
    ["n9"],
    client,
  );
  assertEquals([plan.nodes, plan.missing, plan.key], [["n1", "n2", "n3"], ["n9"], ""]);
  for (const t of targets) assertEquals(orders.get(t.name), { kind: "exec", job, command: "uptime" });
});

Deno.test("job orders: a merged gather → a tree of parents' listeners, one key sealed for each end", () => {
  const job = newJobId();
  const { plan, orders } = jobOrders(
    {
      kind: "gather",
      job,
      port: 5555,
      source: { type: "cmd", value: "cat part" },
      merge: "sort -m",
      fanout: 2,
      nodes: null,
    },
    targets,
    [],
    client,
  );
  assertEquals(plan.children, ["n1", "n2"]);
  const context = gatherKeyContext(job);
  const key = openKey(client, plan.key, context);
  for (const t of targets) {
    const order = orders.get(t.name)!;
    if (order.kind !== "gather-job") throw new Error(order.kind);
    assertEquals(openKey(t.sealKey, order.key, context), key, "the agent opens the same key");
    assertEquals(order.parent, t.name === "n3" ? { host: "10.0.0.1", port: 4000 } : { host: "", port: 5555 });
    assertEquals(order.children, t.name === "n1" ? ["n3"] : []);
  }
});

Deno.test("job orders: a gather without a merge → every node sends to the head", () => {
  const { plan, orders } = jobOrders(
    {
      kind: "gather",
      job: newJobId(),
      port: 5555,
      source: { type: "path", value: "/etc" },
      merge: null,
      fanout: 2,
      nodes: null,
    },
    targets,
    [],
    client,
  );
  assertEquals(plan.children, ["n1", "n2", "n3"]);
  for (const order of orders.values()) {
    if (order.kind !== "gather-job") throw new Error(order.kind);
    assertEquals([order.parent.host, order.children], ["", []]);
  }
});
