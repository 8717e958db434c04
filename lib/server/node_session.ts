/**
 * A node as the server follows it through a deployment: its control connection, what it said
 * (progress, report, phases) and how it ended.
 *
 * @module
 */

import type { FrameConn } from "../net/frame_conn.ts";
import type { Blocked, PeerAddress, ReportMessage, WireError } from "../protocol/messages.ts";
import {
  clipDetail,
  MAX_PHASES_PER_NODE,
  type PhaseNote,
  type PhaseRecord,
  POST_INSTALL_PHASE,
} from "../report/phase.ts";
import { roundSeconds } from "../time/seconds.ts";

/** A node as the server knows it. */
export interface JoinedNode {
  /** Name. */
  name: string;
  /** Data address. */
  address: PeerAddress;
  /** Order of joining. */
  joinIndex: number;
  /** Its rack: the one the server's `--nodes-file` gives it, else the one it said (`--label rack=R`). */
  rack?: string;
}

/**
 * A unique name for a node whose default name `wanted` is taken: `wanted-2`, `wanted-3`… (kept
 * within the protocol's 255 characters).
 */
export function uniqueName(wanted: string, taken: (name: string) => boolean): string {
  for (let n = 2;; n++) {
    const suffix = `-${n}`;
    const name = wanted.slice(0, 255 - suffix.length) + suffix;
    if (!taken(name)) return name;
  }
}

/** One node's session on the server. */
export class NodeSession {
  /** The node's stream report, once it sent it. */
  report: ReportMessage | null = null;
  /** Bytes it last said it holds. */
  lastBytes = 0;
  /** What held it back most, as its last PROGRESS said. */
  blocked: Blocked | null = null;
  /** Why it was lost before reporting, or null. */
  lost: WireError | null = null;
  /**
   * Its post-install step: "none" when it runs none (or its stream failed), "running" from its
   * REPORT to the step's last phase, then "ended" (failed when {@link postInstallError} is set).
   */
  postInstall: "none" | "running" | "ended" = "none";
  /** Why the post-install step failed (code `POST`), or null. */
  postInstallError: WireError | null = null;
  /** Its phases, oldest first, at most {@link MAX_PHASES_PER_NODE}. */
  readonly phases: PhaseRecord[] = [];
  /** Resolves once the stream's verdict on this node is known (reported or lost). */
  readonly done: Promise<void>;
  /** Resolves once the server is through with the node (after its post-install step, if any). */
  readonly ended: Promise<void>;
  #resolveDone!: () => void;
  #resolveEnded!: () => void;

  /**
   * `sealKey`: seals the link keys sent to this node; null when unauthenticated. `runsPostInstall`:
   * the node announced a post-install step after its REPORT.
   */
  constructor(
    readonly node: JoinedNode,
    readonly control: FrameConn,
    readonly sealKey: Uint8Array | null,
    readonly runsPostInstall: boolean,
  ) {
    this.done = new Promise((r) => this.#resolveDone = r);
    this.ended = new Promise((r) => this.#resolveEnded = r);
  }

  /** The stream's verdict on the node is known. */
  finish(): void {
    this.#resolveDone();
  }

  /** The server is through with the node. */
  end(): void {
    this.#resolveDone();
    this.#resolveEnded();
  }

  /** Records a phase seen `at` seconds into the server's run; returns it, or null past the limit. */
  addPhase(note: PhaseNote, ok: boolean, at: number): PhaseRecord | null {
    if (this.phases.length >= MAX_PHASES_PER_NODE) return null;
    const record = { phase: note.phase, ok, detail: clipDetail(note.detail), at: roundSeconds(at) };
    this.phases.push(record);
    return record;
  }

  /** The post-install step ended: with its last phase, or `lost` when the node went away first. */
  endPostInstall(last: { ok: boolean; detail: string } | { lost: string }): void {
    if (this.postInstall !== "running") return;
    this.postInstall = "ended";
    if ("lost" in last) {
      this.postInstallError = { code: "POST", message: `Lost during the post-install step: ${last.lost}` };
    } else if (!last.ok) {
      this.postInstallError = { code: "POST", message: last.detail || POST_INSTALL_PHASE };
    }
  }
}
