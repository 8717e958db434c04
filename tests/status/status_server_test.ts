import { join } from "node:path";
import { ConfigError } from "../../lib/errors.ts";
import { StatusBoard } from "../../lib/status/deployment_status.ts";
import { StatusFile } from "../../lib/status/status_file.ts";
import { StatusServer } from "../../lib/status/status_server.ts";
import { lines } from "../../lib/text/lines.ts";
import { assert, assertEquals, assertRejectsWith, assertThrows } from "../_helpers/assert.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { makeTestPki, opensslAvailable } from "../_helpers/test_pki.ts";

const TOKEN = "status-page-token-0123";

function joinedBoard(): StatusBoard {
  const board = new StatusBoard(() => 1.5);
  board.apply({
    type: "joined",
    node: { name: "n1", address: { name: "n1", host: "127.0.0.1", port: 4001 }, joinIndex: 0 },
    count: 1,
    renamedFrom: null,
  });
  return board;
}

function url(server: StatusServer, path: string): string {
  return `http://127.0.0.1:${server.addr.port}${path}`;
}

Deno.test("status server: the page, /status.json, and 404 for anything else", async () => {
  const server = new StatusServer(joinedBoard(), { hostname: "127.0.0.1", port: 0, token: null });
  try {
    const page = await fetch(url(server, "/"));
    assertEquals(page.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await page.text();
    assert(
      html.includes('<svg id="topology"') && !/https?:\/\/(?!www\.w3\.org)/.test(html),
      "self-contained",
    );
    const status = await (await fetch(url(server, "/status.json"))).json();
    assertEquals([status.state, status.t, status.nodes[0].name], ["waiting", 1.5, "n1"]);
    const missing = await fetch(url(server, "/secret"));
    await missing.body?.cancel();
    assertEquals(missing.status, 404);
  } finally {
    await server.close();
  }
});

Deno.test("status server: /events pushes the status at once, then each change, and ends on close", async () => {
  const board = joinedBoard();
  const server = new StatusServer(board, { hostname: "127.0.0.1", port: 0, token: null });
  const response = await fetch(url(server, "/events"));
  assertEquals(response.headers.get("content-type"), "text/event-stream");
  const received: string[] = [];
  const reading = (async () => {
    for await (const line of lines(response.body!)) {
      if (line.startsWith("data: ")) received.push(line.slice(6));
    }
  })();
  await new Promise((r) => setTimeout(r, 100));
  board.apply({ type: "left", name: "n1", count: 0, reason: "gone" });
  await new Promise((r) => setTimeout(r, 1000)); // pushed within a second
  const states = received.map((d) => JSON.parse(d).nodes.length);
  await server.close();
  await reading;
  assertEquals(states, [1, 0], "the status at once, then the change");
});

Deno.test("status server: with a token, every request needs it (Basic password or Bearer)", async () => {
  const server = new StatusServer(joinedBoard(), { hostname: "127.0.0.1", port: 0, token: TOKEN });
  try {
    const asked = await fetch(url(server, "/status.json"));
    await asked.body?.cancel();
    assertEquals([asked.status, asked.headers.get("www-authenticate")], [
      401,
      'Basic realm="kad", charset="UTF-8"',
    ]);
    for (const authorization of [`Basic ${btoa("x:wrong-token-000000")}`, `Bearer ${TOKEN}x`, "Basic !!"]) {
      const wrong = await fetch(url(server, "/"), { headers: { authorization } });
      await wrong.body?.cancel();
      assertEquals(wrong.status, 401, authorization);
    }
    for (const authorization of [`Basic ${btoa(`anyone:${TOKEN}`)}`, `Bearer ${TOKEN}`]) {
      const right = await fetch(url(server, "/status.json"), { headers: { authorization } });
      assertEquals(right.status, 200, authorization);
      assert(!(await right.text()).includes(TOKEN), "the status never shows the token");
    }
  } finally {
    await server.close();
  }
});

Deno.test("status server: an address open to the network without a token is refused", () => {
  assertThrows(
    () => new StatusServer(joinedBoard(), { hostname: "0.0.0.0", port: 0, token: null }),
    (e: unknown) => e instanceof ConfigError && /needs a token/.test(e.message),
  );
});

Deno.test("status file: rewritten whole on each change, the final status at close", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "status.json");
  const board = joinedBoard();
  const file = await StatusFile.start(path, board);
  assertEquals(JSON.parse(await Deno.readTextFile(path)).nodes.length, 1);
  board.apply({ type: "left", name: "n1", count: 0, reason: "gone" });
  await file.close();
  assertEquals(JSON.parse(await Deno.readTextFile(path)).nodes.length, 0);
  assertEquals([...Deno.readDirSync(dir.path)].map((e) => e.name), ["status.json"], "no temporary file left");
});

Deno.test("status file: a directory that does not exist is a one-line error at the start", async () => {
  await assertRejectsWith(
    () => StatusFile.start("/nonexistent-kad-dir/status.json", joinedBoard()),
    ConfigError,
    /Cannot write the status file "\/nonexistent-kad-dir\/status.json"/,
  );
});

Deno.test({
  name: "status server: with the server's TLS identity the page is HTTPS, and the token crosses encrypted",
  ignore: !opensslAvailable(),
  async fn() {
    await using dir = await tempDir();
    const pki = await makeTestPki(dir.path);
    const tls = { cert: await Deno.readTextFile(pki.cert), key: await Deno.readTextFile(pki.key) };
    const server = new StatusServer(joinedBoard(), { hostname: "127.0.0.1", port: 0, token: TOKEN, tls });
    using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] });
    try {
      const response = await fetch(`https://127.0.0.1:${server.addr.port}/status.json`, {
        client,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assertEquals((await response.json()).nodes[0].name, "n1");
      await assertRejectsWith(() => fetch(url(server, "/status.json")), TypeError); // no plain HTTP
    } finally {
      await server.close();
    }
  },
});
