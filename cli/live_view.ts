/**
 * `kad serve`'s live lines on stderr, from the deployment's status: the whole run (bytes, rate,
 * elapsed, ETA, nodes done) and, on a terminal, one line per node — name, bar, MB/s, phase — for up
 * to {@link MAX_NODE_LINES} nodes, else the five slowest. Off a terminal, the run's line alone every
 * few seconds.
 *
 * @module
 */

import type { DeploymentStatus, NodeStatus } from "../lib/status/deployment_status.ts";
import { formatBytes, formatDuration, ProgressLine } from "./progress.ts";
import type { TextOut } from "./terminal.ts";

/** Deployments up to this many nodes get a line per node; larger ones the slowest few. */
export const MAX_NODE_LINES = 20;
/** Slowest nodes shown for a larger deployment. */
const SLOWEST_SHOWN = 5;
const BAR_WIDTH = 20;

/** The run's line: bytes (of the size or its estimate), rate, elapsed, ETA, nodes. */
export function runLine(status: DeploymentStatus): string {
  const seconds = status.seconds;
  const rate = status.rate > 0 ? status.rate : seconds > 0 ? status.bytes / seconds : 0;
  const total = status.totalBytes ?? status.estimatedBytes;
  const estimated = status.totalBytes === null && total !== null;
  const parts = [formatBytes(status.bytes)];
  if (total !== null && total > 0) {
    const percent = Math.min(99, Math.floor((status.bytes / total) * 100));
    parts[0] += ` of ${estimated ? "~" : ""}${formatBytes(total)} (${percent}%${
      estimated ? ", estimated" : ""
    })`;
  }
  parts.push(`${formatBytes(rate)}/s`, `elapsed ${formatDuration(seconds)}`);
  if (total !== null && rate > 0 && total > status.bytes) {
    parts.push(`ETA ${estimated ? "~" : ""}${formatDuration((total - status.bytes) / rate)}`);
  }
  const done = status.nodes.filter((n) => n.state === "ok").length;
  const failed = status.nodes.filter((n) => n.state === "failed").length;
  parts.push(`nodes ${done}/${status.nodes.length} done${failed ? `, ${failed} failed` : ""}`);
  return parts.join("  ");
}

/** One node's line: name, bar, MB/s, phase (and its error once failed). */
export function nodeLine(node: NodeStatus, status: DeploymentStatus, nameWidth: number): string {
  const total = status.totalBytes ?? status.estimatedBytes ?? status.bytes;
  const fraction = total > 0 ? Math.min(1, node.bytes / total) : 0;
  const filled = node.state === "ok" ? BAR_WIDTH : Math.floor(fraction * BAR_WIDTH);
  const bar = "█".repeat(filled) + "░".repeat(BAR_WIDTH - filled);
  const rate = node.rate > 0 ? `${(node.rate / 1e6).toFixed(1).padStart(7)} MB/s` : "      – MB/s";
  const lag = node.state === "streaming" && node.lagBytes > 0 ? `  ${formatBytes(node.lagBytes)} behind` : "";
  const what = node.state === "streaming" || node.state === "joined" ? node.phase : node.state;
  const error = node.error ? `: ${node.error.code}` : "";
  const repaired = node.repaired ? " (repaired)" : "";
  return `  ${node.name.padEnd(nameWidth)} ${bar} ${rate}  ${what}${error}${repaired}${lag}`;
}

/** Every line the view shows for `status`. */
export function liveLines(status: DeploymentStatus): string[] {
  const lines = [runLine(status)];
  let shown = status.nodes;
  if (shown.length > MAX_NODE_LINES) {
    shown = status.nodes.filter((n) => n.state === "streaming")
      .sort((a, b) => a.bytes - b.bytes || a.rate - b.rate)
      .slice(0, SLOWEST_SHOWN);
    if (shown.length > 0) lines.push(`  slowest ${shown.length} of ${status.nodes.length}:`);
  }
  const nameWidth = Math.min(24, Math.max(4, ...shown.map((n) => n.name.length)));
  for (const node of shown) lines.push(nodeLine(node, status, nameWidth));
  return lines;
}

/** Shows the status: redrawn in place on a terminal, the run's line every few seconds otherwise. */
export class LiveView {
  readonly #line: ProgressLine;
  readonly #terminal: boolean;

  /** Draws on `out`. */
  constructor(out: TextOut) {
    this.#line = new ProgressLine(out);
    this.#terminal = out.isTerminal;
  }

  /** Shows `status`. */
  update(status: DeploymentStatus): void {
    if (!this.#terminal) return this.#line.update(runLine(status));
    const columns = terminalColumns();
    this.#line.update(liveLines(status).map((l) => clip(l, columns)).join("\n"));
  }

  /** Removes the lines so other output starts on a fresh one. */
  clear(): void {
    this.#line.clear();
  }
}

/** Cut to the terminal's width: a wrapped line would break the redraw. */
function clip(line: string, columns: number): string {
  return line.length < columns ? line : line.slice(0, Math.max(1, columns - 2)) + "…";
}

/** The terminal's width; 120 when it does not say (a pseudo-terminal of size 0). */
function terminalColumns(): number {
  try {
    const { columns } = Deno.consoleSize();
    return columns > 0 ? columns : 120;
  } catch {
    return 120;
  }
}
