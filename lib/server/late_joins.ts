/**
 * Nodes that join after the start. One is taken when the stream can still be had from its first
 * byte — the source can be read again (an image file, a block device, `--bench`) or the server's
 * ring still holds the whole past — and is then grafted under the server, which feeds it from the
 * start (from its ring, or the source read again) while the others go on; from there on it is a
 * member like any other, repaired around if lost. Otherwise it is refused, saying why and what
 * would have taken it. `--late-joins no` refuses them all, as before.
 *
 * @module
 */

import type { SourceSpec } from "../source/source.ts";
import { type PlannedNode, SERVER_NAME } from "../topology/planner.ts";
import type { NodeSession } from "./node_session.ts";

/** The deployment's members: the planned nodes, then the late joiners by arrival. */
export class Roster {
  readonly #nodes: PlannedNode[];

  /** Starts from the plan's nodes. */
  constructor(planned: readonly PlannedNode[]) {
    this.#nodes = [...planned];
  }

  /** Every member, by position. */
  get nodes(): readonly PlannedNode[] {
    return this.#nodes;
  }

  /** The member named `name`. */
  find(name: string): PlannedNode | undefined {
    return this.#nodes.find((n) => n.name === name);
  }

  /**
   * Waits until every member has `ended`, late joiners who come meanwhile included, and members
   * come back (whose `ended` is a new one).
   */
  async allEnded(ended: (name: string) => Promise<void>): Promise<void> {
    for (;;) {
      const waits = this.#nodes.map((n) => ended(n.name));
      await Promise.all(waits);
      if (waits.length === this.#nodes.length && this.#nodes.every((n, i) => ended(n.name) === waits[i])) {
        return;
      }
    }
  }

  /** A member come back: at its position, fed by the server now. */
  rejoin(name: string): PlannedNode {
    const index = this.#nodes.findIndex((n) => n.name === name);
    const node = { name, position: index + 1, upstream: SERVER_NAME, children: [] };
    this.#nodes[index] = node;
    return node;
  }

  /** Adds a late joiner at the next position, fed by the server. */
  addLate(name: string): PlannedNode {
    const node = { name, position: this.#nodes.length + 1, upstream: SERVER_NAME, children: [] };
    this.#nodes.push(node);
    return node;
  }
}

/** Where the late joiners stand. */
export type LateJoinState =
  /** Before the start: nodes are not late. */
  | "before"
  /** Started: the stream's first byte can still be had (or cannot, the check says). */
  | "open"
  /** The deployment is through: nobody more. */
  | "closed";

/** Admits, holds and hands on late joiners. */
export class LateJoins {
  readonly #allowed: boolean;
  readonly #source: SourceSpec;
  readonly #compressed: boolean;
  #state: LateJoinState = "before";
  #graft: ((session: NodeSession) => void) | null = null;
  readonly #waiting: NodeSession[] = [];
  /** Late joiners admitted, until their ACCEPT is out and they are handed on. */
  readonly #admitted = new Set<string>();

  /** `allowed`: `--late-joins` (yes by default); `source`: what is served, `compressed` or not. */
  constructor(allowed: boolean, source: SourceSpec, compressed: boolean) {
    this.#allowed = allowed;
    this.#source = source;
    this.#compressed = compressed;
  }

  /** The deployment started: from now on joiners are late. */
  started(): void {
    if (this.#state === "before") this.#state = "open";
  }

  /** True once the deployment started. */
  get isLate(): boolean {
    return this.#state !== "before";
  }

  /** True while a member lost mid-stream may come back: streaming, with late joins allowed. */
  get takesReturns(): boolean {
    return this.#state === "open" && this.#allowed;
  }

  /**
   * Why `name` cannot join now, or null when it can. `fromStart`: whether the server can still
   * feed the stream's first byte (null while it does not know yet: the stream is being set up).
   */
  refusal(name: string, fromStart: boolean | null): string | null {
    if (this.#state === "before") return null;
    if (this.#state === "closed") return `The deployment has ended: node ${name} is too late`;
    if (!this.#allowed) {
      return `Deployment already started: node ${name} is too late (kad serve --late-joins no)`;
    }
    if (fromStart ?? (rereadable(this.#source) && !this.#compressed)) return null;
    const what = this.#compressed
      ? `the compressed stream of ${describe(this.#source)}`
      : describe(this.#source);
    return `Deployment already started and its first bytes are gone (${what} cannot be ` +
      `read again): node ${name} is too late. To take late joiners, serve an --image file or block device, ` +
      "or give kad serve a --ring larger than the stream";
  }

  /** `name` is admitted now: late, when the deployment started. */
  admit(name: string): void {
    if (this.#state !== "before") this.#admitted.add(name);
  }

  /**
   * A node admitted by {@link admit} was told so (ACCEPT): a late joiner is grafted now, or as soon
   * as the stream is under way; a node that joined in time is left to the plan.
   */
  accepted(session: NodeSession): void {
    if (!this.#admitted.delete(session.node.name)) return;
    if (this.#graft === null) this.#waiting.push(session);
    else this.#graft(session);
  }

  /** The stream is under way: `graft` takes the waiting late joiners and every later one. */
  open(graft: (session: NodeSession) => void): void {
    this.#graft = graft;
    for (const session of this.#waiting.splice(0)) graft(session);
  }

  /** Nobody more: the deployment is through (or failed before it could stream). */
  close(): void {
    this.#state = "closed";
  }
}

/** Sources the server can read again from any offset. */
function rereadable(source: SourceSpec): boolean {
  return source.kind === "image" || source.kind === "generated";
}

function describe(source: SourceSpec): string {
  switch (source.kind) {
    case "dir":
      return `the tar stream of ${source.path}`;
    case "stdin":
      return "standard input";
    case "image":
      return source.path;
    case "generated":
      return "the generated stream";
  }
}
