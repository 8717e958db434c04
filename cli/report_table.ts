/**
 * The report as a table for people.
 *
 * @module
 */

import {
  allOk,
  type DeploymentReport,
  nodeRate,
  type NodeResult,
  slowestNode,
  summarize,
} from "../lib/report/report.ts";
import { JOINED_PHASE, RECEIVED_PHASE } from "../lib/report/phase.ts";
import { formatBytes } from "./progress.ts";
import { paint } from "./terminal.ts";

/** Renders the per-node table and a summary line. */
export function renderReport(report: DeploymentReport, color: boolean): string {
  // a PHASES column when nodes told of phases of their own (netboot installs, post-install steps)
  const phased = report.nodes.some((n) => n.phases.some((p) => !SERVER_PHASES.includes(p.phase)));
  const header = [
    "NODE",
    "ADDRESS",
    "POS",
    "STATUS",
    "CODE",
    "MB/s",
    "RSS MiB",
    ...(phased ? ["PHASES"] : []),
    "MESSAGE",
  ];
  const rows = report.nodes.map((n) => [
    n.name,
    n.address,
    String(n.position),
    n.status,
    n.error?.code ?? "-",
    nodeRate(n).toFixed(1),
    n.rssBytes === null ? "-" : (n.rssBytes / 2 ** 20).toFixed(0),
    ...(phased ? [phaseList(n)] : []),
    n.error?.message ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join("  ").trimEnd();
  const body = rows.map((r) => {
    const text = line(r);
    return r[3] === "ok" ? text : paint(text, "red", color);
  });
  const { ok, failed } = summarize(report);
  const verdict = allOk(report)
    ? paint("all verified", "green", color)
    : paint("NOT all verified", "red", color);
  const rate = report.seconds > 0 ? report.bytes / report.seconds / 1e6 : 0;
  const lines = [paint(line(header), "bold", color), ...body, ""];
  if (report.error) lines.push(paint(`source: ${report.error.code}: ${report.error.message}`, "red", color));
  const slow = slowestNode(report);
  if (slow !== null && report.nodes.length > 1) {
    lines.push(`slowest link: ${slow.upstream} → ${slow.name} at ${nodeRate(slow).toFixed(1)} MB/s`);
  }
  lines.push(
    `${report.nodes.length} node(s): ${ok} ok, ${failed} failed — ${verdict}. ` +
      `${formatBytes(report.bytes)} in ${report.seconds.toFixed(1)} s (${rate.toFixed(1)} MB/s), ` +
      `${report.algorithm} ${report.hash || "-"}`,
  );
  if (report.compression !== null && report.rawBytes !== null && report.bytes > 0) {
    lines.push(
      `${report.compression}: ${formatBytes(report.rawBytes)} of source in ${formatBytes(report.bytes)} ` +
        `on the wire (ratio ${(report.rawBytes / report.bytes).toFixed(2)})`,
    );
  }
  return lines.join("\n") + "\n";
}

const SERVER_PHASES = [JOINED_PHASE, RECEIVED_PHASE];

/** A node's phases in order, "joined" left out, a failed one marked: "booted partitioned received configured!". */
function phaseList(node: NodeResult): string {
  const shown = node.phases.filter((p) => p.phase !== JOINED_PHASE);
  return shown.map((p) => p.ok ? p.phase : `${p.phase}!`).join(" ") || "-";
}
