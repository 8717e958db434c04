/**
 * `kad serve --ui`: the live page in a real browser (headless Chromium), `GET /status.json`,
 * `--status-file`, and the time of every JSON event — as a deployment runs with a node killed.
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DeploymentStatus } from "../../lib/status/deployment_status.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { findChromium, HeadlessBrowser } from "../_helpers/headless_browser.ts";
import { type KadProcess, KadServer, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const MIB = 1 << 20;
/** The source: 96 MiB written 1 MiB every 50 ms, so the browser sees the stream and a kill lands mid-stream. */
const SOURCE_MIB = 96;
const PACE_MS = 50;
/** Where the spec leaves its screenshot. */
const OUTPUT = fileURLToPath(new URL("../../test-output/", import.meta.url));

const chromium = findChromium();
const [variant] = kadVariants();

async function fetchStatus(url: string): Promise<DeploymentStatus> {
  const response = await fetch(new URL("status.json", url));
  assertEquals(response.status, 200);
  return await response.json();
}

/** Writes `mib` MiB of a repeatable pattern to the server's stdin, one MiB per `paceMs`. */
async function feed(server: KadServer, mib: number, paceMs: number): Promise<void> {
  const chunk = new Uint8Array(MIB);
  for (let i = 0; i < mib; i++) {
    chunk.fill(i & 0xff);
    chunk[0] = i >> 8;
    await server.process.write(chunk);
    await new Promise((r) => setTimeout(r, paceMs));
  }
  await server.process.closeStdin();
}

Deno.test({
  name: "ui: the page shows every node live, a killed node failed and its child repaired, then the verdict",
  ignore: chromium === null,
  async fn() {
    await using dir = await tempDir("kad-ui-");
    await using browser = await HeadlessBrowser.launch(chromium!);
    const statusFile = join(dir.path, "status.json");
    const server = new KadServer(variant, ["-", "--clients", "4", "--ui", "0", "--status-file", statusFile], {
      stdin: true,
    });
    const port = await server.port;
    const url = server.events.find((e) => e.event === "listening")!.ui as string;
    assert(url.startsWith("http://127.0.0.1:"), `the page listens on loopback by default: ${url}`);

    await browser.open(url);
    await browser.waitFor(
      `document.querySelector("#state").dataset.state === "waiting"`,
      "the waiting state",
    );
    // nodes started one after the other, as people run them: default names, in joining order
    const nodes: KadProcess[] = [];
    for (let i = 1; i <= 4; i++) {
      nodes.push(startJoin(variant, port, null, ["--out", join(dir.path, `copy-${i}`)]));
      await server.joined(i);
    }
    const names = server.events.filter((e) => e.event === "joined").map((e) => e.name as string);
    await browser.waitFor(`document.querySelectorAll("#rows .row").length === 4`, "a row per joined node");

    const feeding = feed(server, SOURCE_MIB, PACE_MS);
    await browser.waitFor(`document.querySelector("#state").dataset.state === "streaming"`, "streaming");
    // kill -9 the second node once it holds some of the stream
    for (;;) {
      const status = await fetchStatus(url);
      if ((status.nodes.find((n) => n.name === names[1])?.bytes ?? 0) >= 16 * MIB) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    nodes[1].kill("SIGKILL");
    await browser.waitFor(
      `document.querySelector('#rows .row[data-node="${names[2]}"]')?.dataset.repaired === "true"`,
      "the repaired mark on the killed node's child",
    );
    await Deno.mkdir(OUTPUT, { recursive: true });
    await browser.screenshot(join(OUTPUT, "status-page-streaming.png"));
    await feeding;

    const { code, report } = await server.result();
    await Promise.all(nodes.map((n) => n.result()));
    assertEquals(code, 1, "one node failed: kad serve exits 1");
    await browser.waitFor(
      `document.querySelector("#verdict").dataset.allOk === "false"`,
      "the final verdict",
    );
    const rows = await browser.evaluate<
      { name: string; state: string; repaired: string; upstream: string }[]
    >(
      `[...document.querySelectorAll("#rows .row")].map((r) => ({ name: r.dataset.node, state: r.dataset.state,
        repaired: r.dataset.repaired, upstream: r.querySelector(".upstream").textContent }))`,
    );
    assertEquals(rows.map((r) => r.name).sort(), [...names].sort(), "a row per node");
    for (const node of report!.nodes) {
      const row = rows.find((r) => r.name === node.name)!;
      assertEquals(row.state, node.status, `${node.name}: the page's final state is the report's`);
    }
    assertEquals(rows.find((r) => r.name === names[1])!.state, "failed");
    const child = rows.find((r) => r.name === names[2])!;
    assertEquals([child.repaired, child.upstream], ["true", names[0]], "the child hangs under node 1 now");
    const verdict = await browser.evaluate<string>(`document.querySelector("#verdict").textContent`);
    assert(/3 ok, 1 failed/.test(verdict), verdict);
    assert(
      await browser.evaluate<boolean>(`document.querySelectorAll("#topology .repair-link").length === 1`),
      "the topology draws the repair link",
    );
    await browser.screenshot(join(OUTPUT, "status-page.png"));
    console.log(`ui: screenshots in ${OUTPUT}`);

    // the status file holds the final status, the same as the report
    const final: DeploymentStatus = JSON.parse(await Deno.readTextFile(statusFile));
    assertEquals(final.state, "done");
    assertEquals(final.verdict, { ok: 3, failed: 1, allOk: false, error: null });
    assertEquals(final.bytes, SOURCE_MIB * MIB);
    // every JSON event carries its time: seconds since the start, never going back, 3 decimals
    const times = server.events.map((e) => e.t as number);
    assert(times.every((t, i) => typeof t === "number" && (i === 0 || t >= times[i - 1])), "t grows");
    assert(times.every((t) => Math.round(t * 1000) / 1000 === t), "t has 3 decimals");
    const progress = server.events.filter((e) => e.event === "progress").at(-1)!;
    assertEquals((progress.nodes as unknown[]).length, 4, "progress carries every node's bytes");
  },
});

Deno.test({
  name: "ui: without a browser the page is skipped with its reason",
  ignore: chromium !== null,
  fn() {
    console.warn("ui: chromium is not installed (apt-get install chromium): the page spec did not run");
  },
});
