import { type ServeEvent, Server } from "../../lib/server/serve.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

Deno.test("server: waiting with no node joined, it says so at every notice; an abort ends the wait", async () => {
  const events: ServeEvent[] = [];
  const abort = new AbortController();
  const server = new Server({
    source: { kind: "generated", bytes: 1000 },
    token: "kad-test-token-0123456789",
    listen: { host: "127.0.0.1", port: 0 },
    start: { waitSeconds: 1 },
    fanout: 1,
    order: "join",
    hash: "xxh128",
    timeoutMs: 30_000,
    signal: abort.signal,
    idleNoticeMs: 200,
    onEvent: (event) => events.push(event),
  });
  await server.listen();
  const running = server.run();
  await new Promise((r) => setTimeout(r, 700));
  abort.abort();
  const report = await running;
  const idle = events.filter((e) => e.type === "idle");
  assert(idle.length >= 2 && idle.length <= 4, `${idle.length} notices`);
  assertEquals(report.error?.code, "ABORT");
});
