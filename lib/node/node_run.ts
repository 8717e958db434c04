/**
 * One node's part of a planned deployment: its relay (node_relay.ts) fed and repaired on the
 * server's word, heartbeats to the server, the report, then the post-install step.
 *
 * @module
 */

import { AbortReceivedError, KadError } from "../errors.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { cpuSeconds, peakRssBytes } from "../process/resource_usage.ts";
import { FrameType } from "../protocol/frame.ts";
import type { PlanMessage, ReportMessage, WireError } from "../protocol/messages.ts";
import { POST_INSTALL_PHASE } from "../report/phase.ts";
import { type PostInstallSpec, runPostInstall } from "./post_install.ts";
import type { JoinResult, NodeOptions } from "./join.ts";
import { NodeRelay } from "./node_relay.ts";

const PROGRESS_INTERVAL_MS = 1000;

/** One node's part of a planned deployment. */
export class NodeRun {
  readonly #options: NodeOptions;
  readonly #control: FrameConn;
  readonly #plan: PlanMessage;
  readonly #relay: NodeRelay;
  /** Fired by the server's ABORT or ERROR: stops the post-install step too. */
  readonly #halt = new AbortController();
  #lastProgressAt = 0;
  /** Bytes the last PROGRESS said this node held. */
  #lastProgressBytes = 0;

  constructor(
    options: NodeOptions,
    control: FrameConn,
    listener: Deno.Listener,
    plan: PlanMessage,
    sealKey: Uint8Array | null,
  ) {
    this.#options = options;
    this.#control = control;
    this.#plan = plan;
    this.#relay = new NodeRelay(options, control, listener, plan, sealKey, this.#heartbeat);
  }

  /** Relays, verifies, reports, runs the post-install step; returns the node's verdict. */
  async run(): Promise<JoinResult> {
    const relay = this.#relay;
    const onAbort = () => relay.abort(new KadError("ABORT", "Interrupted by the operator"));
    this.#options.signal?.addEventListener("abort", onAbort, { once: true });
    const controlLoop = this.#watchControl();
    const progress = setInterval(this.#heartbeat, PROGRESS_INTERVAL_MS);
    let error: WireError | null = null;
    let hash = "";
    try {
      ({ error, hash } = await relay.receive());
    } finally {
      clearInterval(progress);
      this.#options.signal?.removeEventListener("abort", onAbort);
      await relay.close();
    }
    const seconds = relay.seconds;
    const report: ReportMessage = {
      status: error === null ? "ok" : "failed",
      error,
      bytes: relay.bytes,
      hash,
      seconds,
      links: relay.links,
      rssBytes: peakRssBytes(),
      cpuSeconds: cpuSeconds(),
    };
    await this.#control.send(FrameType.REPORT, report).catch(() => {});
    if (report.status === "ok" && this.#options.postInstall) {
      error = await this.#postInstall(this.#options.postInstall, report);
    }
    this.#control.close();
    await controlLoop;
    return {
      name: this.#options.name,
      position: this.#plan.position,
      status: error === null ? "ok" : "failed",
      error,
      bytes: report.bytes,
      hash,
      seconds,
      repairs: relay.repairs,
    };
  }

  /**
   * Runs the post-install step with the server kept informed: its phases as they come, a heartbeat
   * while it runs, and a last phase saying how it ended. Returns why it failed, or null.
   */
  async #postInstall(spec: PostInstallSpec, report: ReportMessage): Promise<WireError | null> {
    const tell = (phase: string, ok: boolean, detail: string, end: boolean) =>
      this.#control.send(FrameType.PHASE, { phase, ok, detail, end }).catch(() => {});
    const heartbeat = setInterval(() => this.#control.send(FrameType.PING, {}).catch(() => {}), 1000);
    const signal = this.#options.signal
      ? AbortSignal.any([this.#options.signal, this.#halt.signal])
      : this.#halt.signal;
    const startedAt = performance.now();
    this.#options.onEvent?.({ type: "post-install", command: spec.command });
    try {
      const error = await runPostInstall(spec, {
        env: {
          KAD_NODE: this.#options.name,
          KAD_POSITION: String(this.#plan.position),
          KAD_COUNT: String(this.#plan.nodeCount),
          KAD_SERVER: `${this.#options.server.host}:${this.#options.server.port}`,
          KAD_DEPLOYMENT: this.#plan.deployment,
          KAD_BYTES: String(report.bytes),
          // seconds since the stream ended: a start all nodes share, e.g. to take turns rebooting
          KAD_STREAM_ENDED_AGO: ((performance.now() - this.#relay.endedAt) / 1000).toFixed(3),
        },
        signal,
        onPhase: (note) => void tell(note.phase, true, note.detail, false),
        onOutput: (line) => this.#options.onEvent?.({ type: "post-install-output", line }),
      });
      const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
      await tell(
        POST_INSTALL_PHASE,
        error === null,
        error === null
          ? `finished in ${seconds} s`
          : error.code === "POST"
          ? error.message
          : `${error.code}: ${error.message}`,
        true,
      );
      return error;
    } finally {
      clearInterval(heartbeat);
    }
  }

  async #watchControl(): Promise<void> {
    try {
      for (;;) {
        const message = await this.#control.readMessage();
        if (message === null) break;
        switch (message.type) {
          case FrameType.DROP:
            this.#relay.repair(message.body.node, message.body, message.body.adopt);
            continue;
          case FrameType.NEW_UPSTREAM:
            this.#relay.expectUpstream(message.body.upstream, message.body.key);
            continue;
          case FrameType.ABORT:
          case FrameType.ERROR:
            this.#relay.abort(new AbortReceivedError(message.body.code, message.body.message));
            this.#halt.abort();
            return;
        }
      }
    } catch {
      // fall through
    }
    if (!this.#control.closed) {
      this.#relay.abort(new KadError("NRF", `Lost the control connection to ${this.#control.peer}`));
    }
  }

  /**
   * Tells the server how far this node is, at most once per {@link PROGRESS_INTERVAL_MS}: from a
   * timer, and from the relay loop after every frame (timers come late on a starved machine). The
   * first bytes are told at once: from then on the server times this node with the stall timeout,
   * so a node that hangs in its first second of streaming is found as fast as any other.
   */
  readonly #heartbeat = (): void => {
    const now = performance.now();
    const bytes = this.#relay?.bytes ?? 0;
    const firstBytes = bytes > 0 && this.#lastProgressBytes === 0;
    if (now - this.#lastProgressAt < PROGRESS_INTERVAL_MS * 0.9 && !firstBytes) return;
    this.#lastProgressAt = now;
    this.#lastProgressBytes = bytes;
    this.#control.send(FrameType.PROGRESS, { bytes, blocked: this.#relay?.takeBlocked() ?? null }).catch(
      () => {},
    );
    this.#options.onEvent?.({ type: "progress", bytes, streamBytes: this.#plan.streamBytes });
    this.#relay?.acknowledge();
  };
}
