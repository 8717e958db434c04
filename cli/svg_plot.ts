/**
 * A small SVG line chart (time vs N) for `kad bench --plot` and bench/peers.
 *
 * @module
 */

/** One line of the chart. */
export interface PlotSeries {
  /** Legend text. */
  name: string;
  /** Points as [x, y]. */
  points: [number, number][];
}

/** What to draw. */
export interface PlotSpec {
  /** Title above the chart. */
  title: string;
  /** X axis label. */
  xLabel: string;
  /** Y axis label. */
  yLabel: string;
  /** The lines. */
  series: PlotSeries[];
  /** A logarithmic x axis (node counts from 1 to 10 000). */
  xLog?: boolean;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/** Renders the chart as a standalone SVG document. */
export function renderSvgPlot(spec: PlotSpec): string {
  const width = 720;
  const height = 440;
  const m = { left: 70, right: 180, top: 50, bottom: 60 };
  const all = spec.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yMax = niceCeiling(Math.max(1e-9, ...all.map((p) => p[1])) * 1.1);
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const x = spec.xLog
    ? (v: number) => m.left + (Math.log10(Math.max(1, v)) / Math.log10(Math.max(10, xMax))) * plotW
    : (v: number) => m.left + (v / xMax) * plotW;
  const y = (v: number) => m.top + plotH - (v / yMax) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2 - m.right / 2}" y="28" text-anchor="middle" font-size="15">${
      escape(spec.title)
    }</text>`,
    `<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${
      m.top + plotH
    }" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="black"/>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax / 5) * i;
    out.push(
      `<line x1="${m.left}" y1="${y(v)}" x2="${m.left + plotW}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${m.left - 8}" y="${y(v) + 4}" text-anchor="end">${round(v)}</text>`,
    );
  }
  const xs = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  for (const v of xs) {
    out.push(`<text x="${x(v)}" y="${m.top + plotH + 18}" text-anchor="middle">${v}</text>`);
  }
  out.push(
    `<text x="${m.left + plotW / 2}" y="${height - 15}" text-anchor="middle">${escape(spec.xLabel)}</text>`,
    `<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escape(spec.yLabel)
    }</text>`,
  );
  // drawn last to first, so the first series (kad) stays visible where lines coincide
  [...spec.series].reverse().forEach((s, r) => {
    const i = spec.series.length - 1 - r;
    const color = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    out.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${
        pts.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ")
      }"/>`,
    );
    for (const p of pts) {
      out.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const ly = m.top + 10 + i * 20;
    out.push(
      `<line x1="${width - m.right + 15}" y1="${ly}" x2="${
        width - m.right + 40
      }" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - m.right + 46}" y="${ly + 4}">${escape(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

function niceCeiling(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((f) => f * p).find((c) => c >= v) ?? 10 * p;
}

function round(v: number): string {
  return v >= 10 ? v.toFixed(0) : v.toFixed(1);
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
