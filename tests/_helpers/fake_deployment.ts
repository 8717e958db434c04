/**
 * A deployment's events without a deployment: N nodes join, a plan places them (chain or tree),
 * then each tick is a second of streaming at 100 MB/s with every node a little behind its upstream,
 * and now and then a node lost and its children repaired. For the status page's specs and its
 * benchmark at hundreds of nodes.
 */

import type { ServeEvent } from "../../lib/server/serve_events.ts";
import { StatusBoard } from "../../lib/status/deployment_status.ts";
import { planTopology } from "../../lib/topology/planner.ts";

const RATE = 100e6;

/** A fake deployment feeding a status board. */
export class FakeDeployment {
  readonly board: StatusBoard;
  readonly #names: string[];
  readonly #failed = new Set<string>();
  #t = 0;

  /** `nodes` nodes named rack-R-node-N, placed with `fanout` children each. */
  constructor(nodes: number, fanout: number) {
    this.board = new StatusBoard(() => this.#t);
    this.#names = Array.from({ length: nodes }, (_, i) => `rack-${Math.floor(i / 40) + 1}-node-${i + 1}`);
    this.#names.forEach((name, i) =>
      this.#emit({
        type: "joined",
        node: { name, address: { name, host: `10.1.${i >> 8}.${i & 255}`, port: 4000 }, joinIndex: i },
        count: i + 1,
        renamedFrom: null,
      })
    );
    const plan = planTopology(this.#names.map((name, joinIndex) => ({ name, joinIndex })), {
      fanout,
      order: "join",
    });
    this.#emit({ type: "planned", plan });
  }

  /** One more second of streaming; every 7th second a node is lost and its successor repaired. */
  tick(): void {
    this.#t++;
    const bytes = this.#t * RATE;
    const nodes = this.#names.map((name, i) => ({
      name,
      bytes: Math.max(0, bytes - (i + 1) * 2e6 - (i % 13 === 5 ? 40e6 : 0)),
    }));
    this.#emit({
      type: "progress",
      progress: {
        bytes,
        totalBytes: 100 * RATE,
        seconds: this.#t,
        slowestNodeBytes: Math.min(...nodes.map((n) => n.bytes)),
        nodesDone: 0,
        nodesFailed: this.#failed.size,
        nodeCount: this.#names.length,
        nodes,
      },
    });
    if (this.#t % 7 === 0) {
      const index = (this.#t * 37) % (this.#names.length - 1);
      const lost = this.#names[index];
      if (this.#failed.has(lost)) return;
      this.#failed.add(lost);
      this.#emit({ type: "node-lost", name: lost, error: { code: "NNF", message: "connection reset" } });
      const child = this.#names[index + 1];
      const upstream = index === 0 ? "server" : this.#names[index - 1];
      this.#emit({
        type: "repaired",
        repair: {
          failed: lost,
          child,
          upstream,
          offset: bytes / 2,
          resentBytes: 1e6,
          seconds: 0.05,
          error: null,
        },
      });
    }
  }

  #emit(event: ServeEvent): void {
    this.board.apply(event);
  }
}
