/**
 * The live status page `kad serve --ui` serves: one self-contained HTML document (styles and script
 * inline, nothing fetched but its own `/events`), so it ships inside kad and its bundle. It draws
 * the topology (failed nodes and repair links marked), the throughput over time and one row per
 * node, rendering only the rows in view so it stays quick at hundreds of nodes.
 *
 * Hooks for scripts and tests: every node row carries `data-node`, `data-state` and
 * `data-repaired`; `#verdict` carries `data-all-ok` once the deployment is done; `#state` says
 * "waiting", "streaming", "done" or "ended" (the server has gone, the page shows its last status);
 * `window.kadRender` counts renders and their times (`lastMs`, `maxMs`, `totalMs`).
 *
 * @module
 */

/** The page. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>kad — deployment</title>
<style>
  :root { --ok: #1a7f37; --failed: #cf222e; --streaming: #0969da; --joined: #8c959f; --repair: #bf8700;
          --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: baseline; padding: 12px 20px;
           border-bottom: 1px solid var(--line); background: var(--panel); }
  header h1 { font-size: 18px; margin: 0; }
  .figure { font-variant-numeric: tabular-nums; }
  .figure b { font-size: 16px; }
  #state { padding: 2px 8px; border-radius: 10px; background: var(--joined); color: #fff; font-weight: 600; }
  #state[data-state="streaming"] { background: var(--streaming); }
  #state[data-state="done"] { background: var(--ok); }
  #state[data-state="ended"] { background: var(--muted); }
  #verdict { margin: 12px 20px 0; padding: 10px 14px; border-radius: 6px; font-weight: 600; display: none; }
  #verdict[data-all-ok="true"] { display: block; background: #dafbe1; color: var(--ok); }
  #verdict[data-all-ok="false"] { display: block; background: #ffebe9; color: var(--failed); }
  main { display: grid; grid-template-columns: minmax(300px, 1fr) minmax(300px, 1fr); gap: 16px; padding: 16px 20px; }
  section { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 0; }
  section h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 6px; }
  #nodes-section { grid-column: 1 / -1; }
  svg { width: 100%; display: block; }
  .legend span { margin-right: 12px; color: var(--muted); font-size: 12px; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px; vertical-align: -1px; }
  .tools { display: flex; gap: 12px; align-items: center; margin-bottom: 6px; color: var(--muted); font-size: 12px; }
  .tools input { font: inherit; padding: 2px 6px; }
  .grid, .row { display: grid; grid-template-columns: 44px minmax(110px, 1.2fr) minmax(90px, 1fr) 110px 92px minmax(150px, 1.4fr) 80px 80px minmax(160px, 2fr);
                gap: 8px; align-items: center; }
  .head { font-weight: 600; color: var(--muted); font-size: 12px; padding: 4px 0; border-bottom: 1px solid var(--line); }
  #rows { position: relative; overflow-y: auto; max-height: 60vh; }
  .row { position: absolute; left: 0; right: 0; height: 24px; font-variant-numeric: tabular-nums;
         border-bottom: 1px solid #eaeef2; white-space: nowrap; }
  .row > * { overflow: hidden; text-overflow: ellipsis; }
  .state { font-weight: 600; }
  .row[data-state="ok"] .state { color: var(--ok); }
  .row[data-state="failed"] .state { color: var(--failed); }
  .row[data-state="streaming"] .state { color: var(--streaming); }
  .row[data-state="joined"] .state { color: var(--joined); }
  .row[data-repaired="true"] .upstream::after { content: " ↺ repaired"; color: var(--repair); font-weight: 600; }
  .bar { position: relative; height: 14px; background: #eaeef2; border-radius: 3px; overflow: hidden; }
  .bar i { position: absolute; inset: 0 auto 0 0; background: var(--streaming); }
  .row[data-state="ok"] .bar i { background: var(--ok); }
  .row[data-state="failed"] .bar i { background: var(--failed); }
  .bar span { position: relative; display: block; padding-left: 4px; font-size: 11px; line-height: 14px; }
  .error { color: var(--failed); }
  .num { text-align: right; }
</style>
</head>
<body>
<header>
  <h1>kad</h1>
  <span id="state" data-state="waiting">connecting…</span>
  <span class="figure">sent <b id="bytes">0 B</b><span id="total"></span></span>
  <span class="figure">rate <b id="rate">–</b></span>
  <span class="figure">elapsed <b id="elapsed">–</b></span>
  <span class="figure" id="eta-box">ETA <b id="eta">–</b></span>
  <span class="figure">nodes <b id="counts">0</b></span>
</header>
<div id="verdict"></div>
<main>
  <section>
    <h2>Topology</h2>
    <div class="legend"><span><i style="background:var(--joined)"></i>joined</span><span><i style="background:var(--streaming)"></i>streaming</span><span><i style="background:var(--ok)"></i>ok</span><span><i style="background:var(--failed)"></i>failed</span><span><i style="background:var(--repair)"></i>repair link</span></div>
    <svg id="topology" viewBox="0 0 600 200" role="img" aria-label="topology"></svg>
  </section>
  <section>
    <h2>Throughput</h2>
    <svg id="chart" viewBox="0 0 600 200" role="img" aria-label="throughput over time"></svg>
  </section>
  <section id="nodes-section">
    <h2>Nodes</h2>
    <div class="tools">
      <label>sort <select id="sort"><option value="position">position</option><option value="slowest">slowest first</option><option value="lag">most behind</option><option value="failed">failed first</option></select></label>
      <label>filter <input id="filter" placeholder="name or state"></label>
      <span id="shown"></span>
    </div>
    <div class="grid head"><span>#</span><span>node</span><span>upstream</span><span>phase</span><span>state</span><span>received</span><span class="num">MB/s</span><span class="num">lag</span><span>error</span></div>
    <div id="rows"></div>
  </section>
</main>
<script>
"use strict";
const ROW = 24;
const NS = "http://www.w3.org/2000/svg";
const el = (id) => document.getElementById(id);
let status = null;
let ended = false;

function bytes(n) {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = n, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return v.toFixed(i === 0 ? 0 : 1) + " " + units[i];
}
function duration(s) {
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), ss = String(s % 60).padStart(2, "0");
  return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
}
function svg(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const k in attrs) node.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(node);
  return node;
}
const COLORS = { joined: "var(--joined)", streaming: "var(--streaming)", ok: "var(--ok)", failed: "var(--failed)" };

function renderHeader(s) {
  const state = el("state");
  const shown = ended ? "ended" : s.state;
  state.dataset.state = shown;
  state.textContent = ended ? "server ended (final status)" : s.state;
  el("bytes").textContent = bytes(s.bytes);
  el("total").textContent = s.totalBytes ? " of " + bytes(s.totalBytes) + " (" + Math.floor(100 * s.bytes / s.totalBytes) + "%)" : "";
  el("rate").textContent = s.state === "streaming" ? bytes(s.rate) + "/s" : (s.seconds > 0 ? bytes(s.bytes / s.seconds) + "/s avg" : "–");
  el("elapsed").textContent = s.seconds > 0 ? duration(s.seconds) : "–";
  const eta = s.state === "streaming" && s.totalBytes && s.rate > 0 ? duration((s.totalBytes - s.bytes) / s.rate) : null;
  el("eta-box").style.display = eta ? "" : "none";
  el("eta").textContent = eta || "–";
  const by = { joined: 0, streaming: 0, ok: 0, failed: 0 };
  for (const n of s.nodes) by[n.state]++;
  el("counts").textContent = s.nodes.length + " (" + [by.ok + " ok", by.failed + " failed", by.streaming + " streaming", by.joined + " waiting"].filter((t) => !t.startsWith("0 ")).join(", ") + ")";
  const verdict = el("verdict");
  if (s.verdict) {
    verdict.dataset.allOk = String(s.verdict.allOk);
    verdict.textContent = s.verdict.allOk
      ? "Done: all " + s.verdict.ok + " nodes hold a verified, identical copy (" + bytes(s.bytes) + " in " + s.seconds.toFixed(1) + " s)."
      : "Done with failures: " + s.verdict.ok + " ok, " + s.verdict.failed + " failed" + (s.verdict.error ? " — " + s.verdict.error.code + ": " + s.verdict.error.message : "") + ".";
  }
}

function renderTopology(s) {
  const box = el("topology");
  box.replaceChildren();
  const nodes = s.nodes.filter((n) => n.position !== null);
  if (nodes.length === 0) {
    svg("text", { x: 300, y: 100, "text-anchor": "middle", fill: "var(--muted)" }, box).textContent = s.nodes.length + " node(s) joined; waiting for the start";
    return;
  }
  const place = new Map();
  const W = 600;
  if (s.fanout === 1) {
    // a chain: a snake of rows, in position order
    const cols = Math.max(2, Math.min(16, Math.ceil(Math.sqrt(nodes.length * 3))));
    const dx = W / (cols + 1), rows = Math.ceil((nodes.length + 1) / cols), dy = Math.min(48, Math.max(14, 600 / rows));
    const at = (i) => { const r = Math.floor(i / cols), c = i % cols; return { x: dx * (1 + (r % 2 ? cols - 1 - c : c)), y: 20 + r * dy }; };
    place.set("server", at(0));
    nodes.forEach((n, i) => place.set(n.name, at(i + 1)));
    box.setAttribute("viewBox", "0 0 " + W + " " + (40 + (rows - 1) * dy));
  } else {
    // a tree: one row per depth, from the live upstreams
    const depth = new Map([["server", 0]]);
    const byName = new Map(nodes.map((n) => [n.name, n]));
    const depthOf = (name, seen) => {
      if (depth.has(name)) return depth.get(name);
      const n = byName.get(name);
      if (!n || seen > nodes.length) return 1;
      const d = depthOf(n.upstream, seen + 1) + 1;
      depth.set(name, d);
      return d;
    };
    const levels = [];
    for (const n of nodes) (levels[depthOf(n.name, 0)] ||= []).push(n);
    const dy = Math.min(60, Math.max(16, 500 / levels.length));
    place.set("server", { x: W / 2, y: 16 });
    levels.forEach((level, d) => level && level.forEach((n, i) => place.set(n.name, { x: W * (i + 1) / (level.length + 1), y: 16 + d * dy })));
    box.setAttribute("viewBox", "0 0 " + W + " " + (32 + (levels.length - 1) * dy));
  }
  const r = Math.max(2.5, Math.min(8, 220 / Math.sqrt(nodes.length + 1) / 2));
  for (const n of nodes) {
    const a = place.get(n.upstream) || place.get("server"), b = place.get(n.name);
    if (!n.repaired) {
      svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, stroke: "var(--line)", "stroke-width": 1.2, class: "link" }, box);
      continue;
    }
    // a repair link arcs over the nodes it bypasses
    const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2, len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    const bend = Math.min(40, len / 3), cx = mx + bend * (a.y - b.y) / len, cy = my - bend * Math.abs(b.x - a.x) / len;
    svg("path", { d: "M" + a.x + " " + a.y + "Q" + cx + " " + cy + " " + b.x + " " + b.y, fill: "none", stroke: "var(--repair)",
                  "stroke-width": 2, "stroke-dasharray": "4 3", class: "repair-link" }, box);
  }
  const server = place.get("server");
  svg("rect", { x: server.x - r * 1.4, y: server.y - r * 1.4, width: r * 2.8, height: r * 2.8, fill: "var(--fg)" }, box);
  for (const n of nodes) {
    const p = place.get(n.name);
    const dot = svg("circle", { cx: p.x, cy: p.y, r: r, fill: COLORS[n.state] || "var(--joined)", "data-node": n.name, "data-state": n.state }, box);
    svg("title", {}, dot).textContent = n.name + " (#" + n.position + ", " + n.state + (n.error ? ": " + n.error.code : "") + ")";
    if (n.state === "failed") {
      svg("path", { d: "M" + (p.x - r) + " " + (p.y - r) + "L" + (p.x + r) + " " + (p.y + r) + "M" + (p.x + r) + " " + (p.y - r) + "L" + (p.x - r) + " " + (p.y + r), stroke: "#fff", "stroke-width": 1.5 }, box);
    }
    if (nodes.length <= 24) svg("text", { x: p.x, y: p.y + r + 11, "text-anchor": "middle", "font-size": 10, fill: "var(--muted)" }, box).textContent = n.name;
  }
}

function renderChart(s) {
  const box = el("chart");
  box.replaceChildren();
  const pts = [];
  for (let i = 1; i < s.samples.length; i++) {
    const a = s.samples[i - 1], b = s.samples[i], dt = b.t - a.t;
    if (dt > 0) pts.push({ t: b.t, rate: (b.bytes - a.bytes) / dt, slow: (b.slowestBytes - a.slowestBytes) / dt });
  }
  const W = 600, H = 200, L = 70, B = 24;
  svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, stroke: "var(--line)" }, box);
  if (pts.length < 2) {
    svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "var(--muted)" }, box).textContent = "throughput appears once streaming";
    return;
  }
  const t0 = s.samples[0].t, t1 = pts[pts.length - 1].t, top = Math.max(1, ...pts.map((p) => Math.max(p.rate, p.slow))) * 1.1;
  const x = (t) => L + (W - L - 8) * (t - t0) / Math.max(1e-9, t1 - t0), y = (v) => (H - B) - (H - B - 8) * Math.max(0, v) / top;
  for (const f of [0.5, 1]) {
    svg("line", { x1: L, y1: y(top * f / 1.1), x2: W, y2: y(top * f / 1.1), stroke: "#eaeef2" }, box);
    svg("text", { x: L - 4, y: y(top * f / 1.1) + 4, "text-anchor": "end", "font-size": 10, fill: "var(--muted)" }, box).textContent = bytes(top * f / 1.1) + "/s";
  }
  svg("text", { x: W - 4, y: H - 6, "text-anchor": "end", "font-size": 10, fill: "var(--muted)" }, box).textContent = duration(t1 - t0);
  const line = (key, color) => svg("polyline", { points: pts.map((p) => x(p.t).toFixed(1) + "," + y(p[key]).toFixed(1)).join(" "), fill: "none", stroke: color, "stroke-width": 1.6 }, box);
  line("slow", "var(--repair)");
  line("rate", "var(--streaming)");
  svg("text", { x: L + 4, y: 12, "font-size": 10, fill: "var(--streaming)" }, box).textContent = "source";
  svg("text", { x: L + 52, y: 12, "font-size": 10, fill: "var(--repair)" }, box).textContent = "slowest node";
}

let ordered = [];
function order(s) {
  const filter = el("filter").value.trim().toLowerCase();
  let list = s.nodes.filter((n) => !filter || n.name.toLowerCase().includes(filter) || n.state === filter || n.phase === filter);
  const how = el("sort").value;
  const rank = { failed: 0, streaming: 1, joined: 2, ok: 3 };
  if (how === "slowest") list = list.slice().sort((a, b) => (a.state === "streaming" ? a.rate : Infinity) - (b.state === "streaming" ? b.rate : Infinity));
  if (how === "lag") list = list.slice().sort((a, b) => b.lagBytes - a.lagBytes);
  if (how === "failed") list = list.slice().sort((a, b) => rank[a.state] - rank[b.state]);
  ordered = list;
  el("shown").textContent = list.length === s.nodes.length ? "" : list.length + " of " + s.nodes.length + " shown";
}

function cell(text, cls) {
  const span = document.createElement("span");
  if (cls) span.className = cls;
  span.textContent = text;
  return span;
}

function renderRows() {
  const box = el("rows");
  if (!status) return;
  const height = ordered.length * ROW;
  box.style.height = Math.min(height, window.innerHeight * 0.6) + "px";
  const first = Math.max(0, Math.floor(box.scrollTop / ROW) - 10);
  const last = Math.min(ordered.length, Math.ceil((box.scrollTop + box.clientHeight) / ROW) + 10);
  const rows = [];
  const total = status.totalBytes || status.bytes || 1;
  for (let i = first; i < last; i++) {
    const n = ordered[i];
    const row = document.createElement("div");
    row.className = "row";
    row.style.top = (i * ROW) + "px";
    row.dataset.node = n.name;
    row.dataset.state = n.state;
    row.dataset.repaired = String(n.repaired);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = Math.min(100, 100 * n.bytes / total).toFixed(1) + "%";
    bar.append(fill, cell(bytes(n.bytes)));
    row.append(cell(n.position === null ? "–" : String(n.position)), cell(n.name), cell(n.upstream || "–", "upstream"),
      cell(n.phase), cell(n.state, "state"), bar, cell(n.rate > 0 ? (n.rate / 1e6).toFixed(1) : "–", "num"),
      cell(n.state === "streaming" && n.lagBytes > 0 ? bytes(n.lagBytes) : "–", "num"),
      cell(n.error ? n.error.code + ": " + n.error.message : "", "error"));
    if (n.error) row.title = n.error.code + ": " + n.error.message;
    rows.push(row);
  }
  const spacer = document.createElement("div");
  spacer.style.height = height + "px";
  box.replaceChildren(spacer, ...rows);
}

// how long renders take, for benchmarks: window.kadRender
const timing = window.kadRender = { count: 0, lastMs: 0, maxMs: 0, totalMs: 0 };
function render() {
  if (!status) return;
  const start = performance.now();
  renderHeader(status);
  renderTopology(status);
  renderChart(status);
  order(status);
  renderRows();
  const ms = performance.now() - start;
  timing.count++;
  timing.lastMs = ms;
  timing.totalMs += ms;
  timing.maxMs = Math.max(timing.maxMs, ms);
}

el("rows").addEventListener("scroll", () => requestAnimationFrame(renderRows));
el("sort").addEventListener("change", render);
el("filter").addEventListener("input", render);
window.addEventListener("resize", renderRows);

const events = new EventSource("events");
events.onmessage = (e) => { status = JSON.parse(e.data); render(); };
events.onerror = () => {
  if (status && status.state === "done") {
    events.close();
    ended = true;
    render();
  } else {
    el("state").textContent = "reconnecting…";
  }
};
</script>
</body>
</html>
`;
