/**
 * The live status page at scale: a status server fed a fake deployment of N nodes (default 500;
 * a second of streaming per push, nodes lost and repaired now and then), opened in headless
 * Chromium. Prints what a browser pays per update: the pushed status's size, the page's render time
 * (mean and worst over the run), the rows in the DOM (only those in view), and the machine's load.
 * Fails when the page does not show every node or renders slower than one update per second.
 *
 *   deno run -A bench/status_page.ts [--nodes 500] [--fanout 1] [--seconds 20]
 */

import { parseArgs } from "node:util";
import { StatusServer } from "../lib/status/status_server.ts";
import { FakeDeployment } from "../tests/_helpers/fake_deployment.ts";
import { findChromium, HeadlessBrowser } from "../tests/_helpers/headless_browser.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { nodes: { type: "string" }, fanout: { type: "string" }, seconds: { type: "string" } },
});
const nodes = Number(values.nodes ?? 500);
const fanout = Number(values.fanout ?? 1);
const seconds = Number(values.seconds ?? 20);
const chromium = findChromium();
if (chromium === null) {
  console.error("bench: chromium is not installed (apt-get install chromium)");
  Deno.exit(1);
}
const loadBefore = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
const fake = new FakeDeployment(nodes, fanout);
const server = new StatusServer(fake.board, { hostname: "127.0.0.1", port: 0, token: null });
await using browser = await HeadlessBrowser.launch(chromium);
await browser.open(`http://127.0.0.1:${server.addr.port}/`);
await browser.waitFor(`document.querySelector("#state").dataset.state === "streaming"`, "the stream");
const start = await browser.evaluate<number>("window.kadRender.count");
let bytes = 0;
for (let i = 0; i < seconds; i++) {
  fake.tick();
  bytes += JSON.stringify(fake.board.snapshot()).length;
  await new Promise((r) => setTimeout(r, 1000));
}
const timing = await browser.evaluate<{ count: number; maxMs: number; totalMs: number }>("window.kadRender");
const dom = await browser.evaluate<{ rows: number; elements: number; heads: string }>(
  `({ rows: document.querySelectorAll("#rows .row").length, elements: document.getElementsByTagName("*").length,
      heads: document.querySelector("#counts").textContent })`,
);
const shown = await browser.evaluate<number>(
  `(() => { const f = document.querySelector("#filter"); f.value = "node-${nodes}"; f.dispatchEvent(new Event("input"));
     return [...document.querySelectorAll("#rows .row")].filter((r) => r.dataset.node.endsWith("node-${nodes}")).length; })()`,
);
await server.close();
const renders = timing.count - start;
const loadAfter = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
console.log(
  `status page, ${nodes} nodes, fan-out ${fanout}, ${seconds} updates (load ${loadBefore} → ${loadAfter})`,
);
console.log(`  pushed status: ${(bytes / seconds / 1024).toFixed(0)} KiB per update`);
console.log(
  `  render: ${(timing.totalMs / timing.count).toFixed(1)} ms mean, ${timing.maxMs.toFixed(1)} ms worst ` +
    `(${renders} renders during the run)`,
);
console.log(
  `  DOM: ${dom.rows} node rows of ${nodes} (only those in view), ${dom.elements} elements; header: ${dom.heads}`,
);
if (!dom.heads.startsWith(`${nodes} `) || shown !== 1) throw new Error("the page does not show every node");
if (timing.maxMs > 1000) {
  throw new Error(`a render took ${timing.maxMs.toFixed(0)} ms: slower than the updates`);
}
