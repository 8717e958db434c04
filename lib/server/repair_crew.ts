/**
 * Carries out what the repair coordinator decides: DROP and NEW_UPSTREAM frames with the links'
 * keys sealed for the node that receives them, the server's own drops and adoptions, failed
 * repairs, timers for the coordinator's ticks — and feeds every result back to it.
 *
 * @module
 */

import { FrameType, type FrameTypeValue } from "../protocol/frame.ts";
import type { LinkPeer, PlanMessage, WireError } from "../protocol/messages.ts";
import { linkKeyContext, streamKeyContext } from "../security/handshake.ts";
import { sealKey } from "../security/sealed_key.ts";
import { type PlannedNode, SERVER_NAME } from "../topology/planner.ts";
import { logger } from "../log.ts";
import type { NodeSession } from "./node_session.ts";
import type { Adoption, CoordinatorCommand, CoordinatorEvent } from "./repair_commands.ts";
import type { RepairCoordinator } from "./repair_coordinator.ts";
import type { ServeEvent } from "./serve_events.ts";
import type { ServerFeed } from "./server_feed.ts";

const log = logger("server");

/** What every node's PLAN says of the stream. */
export type PlanStream = Pick<PlanMessage, "hashAlgorithm" | "streamBytes" | "frameBytes">;

/** What a {@link RepairCrew} works with. */
export interface RepairCrewOptions {
  /** The deployment (link keys are sealed for it). */
  deployment: string;
  /** The decisions. */
  coordinator: RepairCoordinator;
  /** The nodes, by name. */
  sessions: ReadonlyMap<string, NodeSession>;
  /** The server's own data path. */
  feed: () => ServerFeed | null;
  /** Tells the server's listener. */
  emit: (event: ServeEvent) => void;
  /** Aborts the whole deployment (`--abort-on-node-failure`). */
  abort: (reason: WireError) => void;
}

/** Executes coordinator commands for one deployment. */
export class RepairCrew {
  readonly #options: RepairCrewOptions;

  /** Creates the crew. */
  constructor(options: RepairCrewOptions) {
    this.#options = options;
  }

  /** Feeds an event to the coordinator and carries out what it decides. */
  handle(event: CoordinatorEvent): void {
    for (const command of this.#options.coordinator.handle(event, performance.now())) this.#execute(command);
  }

  /** `key` of the link `from` → `to` sealed for `holder` (one of its ends); "" when unauthenticated. */
  sealed(key: Uint8Array | null, from: string, to: string, holder: string): string {
    const seal = this.#options.sessions.get(holder)?.sealKey;
    if (key === null || !seal) return "";
    return sealKey(seal, key, linkKeyContext({ deployment: this.#options.deployment, from, to }));
  }

  /** A child `from` must link to: its address and the link's key sealed for `from`. */
  linkPeer(from: string, { child, key }: Adoption): LinkPeer {
    return { ...this.#options.sessions.get(child)!.node.address, key: this.sealed(key, from, child, from) };
  }

  /**
   * The PLAN of `planned`: its place, its links' keys and the stream key (the key DATA frames are
   * sealed under; null on `--insecure`), each sealed for it.
   */
  plan(
    planned: PlannedNode,
    nodeCount: number,
    streamKey: Uint8Array | null,
    stream: PlanStream,
  ): PlanMessage {
    const { coordinator, deployment } = this.#options;
    const name = planned.name;
    const seal = this.#options.sessions.get(name)?.sealKey;
    return {
      deployment,
      position: planned.position,
      nodeCount,
      upstream: planned.upstream,
      upstreamKey: this.sealed(coordinator.linkKey(planned.upstream, name), planned.upstream, name, name),
      children: planned.children.map((child) =>
        this.linkPeer(name, { child, key: coordinator.linkKey(name, child) })
      ),
      streamKey: streamKey && seal ? sealKey(seal, streamKey, streamKeyContext(deployment)) : "",
      ...stream,
    };
  }

  #execute(command: CoordinatorCommand): void {
    const { emit } = this.#options;
    switch (command.type) {
      case "lost":
        return emit({ type: "node-lost", name: command.node, error: command.reason });
      case "moved":
        return emit({ type: "node-moved", name: command.node, from: command.from, reason: command.reason });
      case "repaired":
        return emit({ type: "repaired", repair: command.repair });
      case "grafted": {
        const { node, offset, resent, error } = command;
        return emit({ type: "grafted", name: node, offset, resent, error });
      }
      case "drop":
        log.debug("{to}: drop {node} ({code}), adopt {adopt}", {
          to: command.to,
          node: command.node,
          code: command.reason.code,
          adopt: command.adopt.map((a) => a.child).join(" ") || "nobody",
        });
        return this.#send(command.to, FrameType.DROP, {
          code: command.reason.code,
          message: command.reason.message,
          node: command.node,
          adopt: command.adopt.map((a) => this.linkPeer(command.to, a)),
        });
      case "new-upstream":
        return this.#send(command.to, FrameType.NEW_UPSTREAM, {
          upstream: command.upstream,
          key: this.sealed(command.key, command.upstream, command.to, command.to),
        });
      case "server-drop":
        return this.#options.feed()?.drop(command.node, command.reason);
      case "server-adopt":
        return this.#adoptByServer(command.adopt, command.released);
      case "fail-node":
        return this.#send(command.node, FrameType.ERROR, { code: command.code, message: command.message });
      case "abort":
        return this.#options.abort(command.reason);
      case "wake": {
        const timer = setTimeout(
          () => this.handle({ type: "tick" }),
          Math.max(0, command.at - performance.now()),
        );
        Deno.unrefTimer(timer);
        return;
      }
    }
  }

  #send(node: string, type: FrameTypeValue, body: unknown): void {
    this.#options.sessions.get(node)?.control.send(type, body).catch(() => {});
  }

  /** The server feeds `adopt` itself (from its ring, or the source read again). */
  #adoptByServer(adopt: Adoption[], released: string): void {
    const targets = adopt.flatMap(({ child, key, fromHistory }) => {
      const session = this.#options.sessions.get(child);
      return session && session.report === null && session.lost === null
        ? [{ address: session.node.address, key, fromHistory }]
        : [];
    });
    this.#options.feed()?.adopt(targets, released, (result) =>
      this.handle(
        result.ok
          ? {
            type: "adopted",
            by: SERVER_NAME,
            child: result.child,
            offset: result.offset,
            resent: result.resent,
          }
          : {
            type: "adopt-failed",
            by: SERVER_NAME,
            child: result.child,
            offset: result.offset,
            reason: result.reason,
          },
      ));
  }
}
