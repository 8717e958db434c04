/**
 * Progress on stderr: redrawn in place on a terminal, a plain line every few seconds otherwise.
 *
 * @module
 */

import type { TextOut } from "./terminal.ts";

/** Formats a byte count with a decimal unit. */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Formats seconds as m:ss or h:mm:ss. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.round(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The numbers of one progress line. */
export interface ProgressState {
  /** Bytes so far. */
  bytes: number;
  /** Total when known. */
  totalBytes: number | null;
  /** Seconds elapsed. */
  seconds: number;
  /** Nodes finished with a verified copy. */
  nodesDone?: number;
  /** Nodes that failed. */
  nodesFailed?: number;
  /** Nodes in the deployment. */
  nodeCount?: number;
}

/** Formats one progress line. */
export function formatProgress(state: ProgressState): string {
  const rate = state.seconds > 0 ? state.bytes / state.seconds : 0;
  const parts = [formatBytes(state.bytes)];
  if (state.totalBytes !== null && state.totalBytes > 0) {
    parts[0] += ` of ${formatBytes(state.totalBytes)} (${
      Math.floor((state.bytes / state.totalBytes) * 100)
    }%)`;
  }
  parts.push(`${formatBytes(rate)}/s`);
  if (state.totalBytes !== null && rate > 0) {
    parts.push(`ETA ${formatDuration((state.totalBytes - state.bytes) / rate)}`);
  }
  if (state.nodeCount !== undefined) {
    const failed = state.nodesFailed ? `, ${state.nodesFailed} failed` : "";
    parts.push(`nodes ${state.nodesDone ?? 0}/${state.nodeCount} done${failed}`);
  }
  return parts.join("  ");
}

/**
 * A progress line (or block of lines) that redraws in place on a terminal and prints every
 * `plainEveryMs` otherwise.
 */
export class ProgressLine {
  readonly #out: TextOut;
  readonly #plainEveryMs: number;
  #lastPlain = -Infinity;
  /** Lines on screen now. */
  #drawn = 0;

  /** Creates a progress line on `out`. */
  constructor(out: TextOut, plainEveryMs = 5000) {
    this.#out = out;
    this.#plainEveryMs = plainEveryMs;
  }

  /** Shows `text` (lines separated by newlines). */
  update(text: string): void {
    if (this.#out.isTerminal) {
      this.#out.write(this.#erase() + text);
      this.#drawn = text.split("\n").length;
      return;
    }
    const now = performance.now();
    if (now - this.#lastPlain >= this.#plainEveryMs) {
      this.#lastPlain = now;
      this.#out.write(`${text}\n`);
    }
  }

  /** Ends the line so other output starts on a fresh one. */
  clear(): void {
    if (this.#drawn > 0) this.#out.write(this.#erase());
    this.#drawn = 0;
  }

  /** Moves to the start of what was drawn and erases it to the end of the screen. */
  #erase(): string {
    const up = this.#drawn > 1 ? `\x1b[${this.#drawn - 1}A` : "";
    return `\r${up}\x1b[J`;
  }
}
