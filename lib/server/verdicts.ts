/**
 * Each member's verdict, told once it is final (node-done): as soon as a node reported or was lost
 * and the source's outcome is known — or at once for a node that failed whatever the source did. A
 * member that comes back (a restarted node resuming its copy) has its verdict told again.
 *
 * @module
 */

import type { NodeResult, SourceOutcome } from "../report/report.ts";
import { nodeResult } from "./deployment_report.ts";
import type { Roster } from "./late_joins.ts";
import type { NodeSession } from "./node_session.ts";

/** Tells each member's verdict once. */
export class Verdicts {
  readonly #told = new Set<string>();
  readonly #tell: (node: NodeResult) => void;
  readonly #upstreamOf: (name: string) => string;
  /** The members, once planned. */
  roster: Roster | null = null;
  /** The source's outcome, once it ended. */
  outcome: SourceOutcome | null = null;

  /** `tell` gets each verdict; `upstreamOf` says a node's upstream now. */
  constructor(tell: (node: NodeResult) => void, upstreamOf: (name: string) => string) {
    this.#tell = tell;
    this.#upstreamOf = upstreamOf;
  }

  /** The verdict on `session` at `position` given the source's `outcome`. */
  result(session: NodeSession, position: number, outcome: SourceOutcome): NodeResult {
    return nodeResult(session, position, this.#upstreamOf(session.node.name), outcome);
  }

  /** Tells `session`'s verdict if it is final and not told yet. */
  announce(session: NodeSession): void {
    const planned = this.roster?.find(session.node.name);
    if (planned === undefined || this.#told.has(session.node.name)) return;
    if (session.postInstall === "running") return; // its verdict waits for the step's end
    const failedAnyway = session.report?.status === "failed" || session.report === null;
    const outcome = this.outcome ?? (failedAnyway ? { bytes: 0, hash: "", error: null } : null);
    if (outcome === null) return;
    this.#told.add(session.node.name);
    this.#tell(this.result(session, planned.position, outcome));
  }

  /** `name` came back: its verdict will be told again. */
  reopen(name: string): void {
    this.#told.delete(name);
  }
}
