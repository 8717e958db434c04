/**
 * A node's control connection as the server reads it, from ACCEPT to the end: its heartbeats and
 * progress, the repairs it reports (upstream lost, adoptions), its phases, its REPORT and then its
 * post-install step — or its going away. What each means is the server's business ({@link
 * FollowerHost}); this file only reads and sorts.
 *
 * @module
 */

import { describeError, KadError } from "../errors.ts";
import { FrameType } from "../protocol/frame.ts";
import type { Message, PhaseMessage } from "../protocol/messages.ts";
import { type PhaseNote, RECEIVED_PHASE } from "../report/phase.ts";
import type { NodeSession } from "./node_session.ts";
import type { CoordinatorEvent } from "./repair_commands.ts";

/** What the server does with what a node says. */
export interface FollowerHost {
  /** The node said something; `streaming`: it holds stream bytes. */
  heard(session: NodeSession, streaming: boolean): void;
  /** A phase of the node, to record. */
  phase(session: NodeSession, note: PhaseNote | PhaseMessage, ok: boolean): void;
  /** A repair event the node reported. */
  repair(event: CoordinatorEvent): void;
  /** Its REPORT arrived (`session.report` is set; `session.postInstall` says whether a step follows). */
  reported(session: NodeSession): void;
  /** Its post-install step ended, or the node was lost during it. */
  postInstallEnded(session: NodeSession): void;
  /** It went away before its REPORT (`session.lost` says why). */
  gone(session: NodeSession): void;
}

/** Reads a node's control messages until it reports (and ends its post-install step) or goes away. */
export async function followNode(session: NodeSession, host: FollowerHost): Promise<void> {
  const name = session.node.name;
  try {
    for (;;) {
      const message = await session.control.readMessage();
      if (message === null) break;
      if (receive(session, message, host)) {
        if (session.postInstall === "running") await followPostInstall(session, host);
        session.end();
        return;
      }
    }
    session.lost ??= { code: "NNF", message: `Node ${name} closed its control connection` };
  } catch (error) {
    // a reset control connection means the node is gone (NNF); garbage from it is its own (PROTO…)
    const code = error instanceof KadError && error.code !== "NRF" ? error.code : "NNF";
    session.lost ??= { code, message: describeError(error) };
  }
  session.control.close();
  host.gone(session);
  session.end();
}

/** One control message; true once it was the REPORT. */
function receive(session: NodeSession, message: Message, host: FollowerHost): boolean {
  const name = session.node.name;
  switch (message.type) {
    case FrameType.PROGRESS:
      session.lastBytes = message.body.bytes;
      session.blocked = message.body.blocked;
      break;
    case FrameType.PHASE:
      host.phase(session, message.body, message.body.ok);
      break;
    case FrameType.UPSTREAM_LOST:
      host.repair({
        type: "upstream-lost",
        node: name,
        upstream: message.body.upstream,
        reason: message.body,
      });
      break;
    case FrameType.ADOPTED:
      host.repair({ type: "adopted", by: name, ...message.body });
      break;
    case FrameType.ADOPT_FAILED: {
      const { child, offset } = message.body;
      host.repair({ type: "adopt-failed", by: name, child, offset: offset || null, reason: message.body });
      break;
    }
    case FrameType.REPORT: {
      const report = session.report = message.body;
      session.lastBytes = report.bytes;
      const ok = report.status === "ok";
      const detail = ok
        ? `${report.bytes} bytes verified in ${report.seconds.toFixed(1)} s`
        : `${report.error?.code}: ${report.error?.message}`;
      host.phase(session, { phase: RECEIVED_PHASE, detail }, ok);
      if (ok && session.runsPostInstall) session.postInstall = "running";
      host.reported(session);
      session.finish();
      return true;
    }
  }
  host.heard(session, session.lastBytes > 0);
  return false;
}

/** After an ok REPORT: the phases of the node's post-install step, to the one that ends it. */
async function followPostInstall(session: NodeSession, host: FollowerHost): Promise<void> {
  try {
    for (;;) {
      const message = await session.control.readMessage();
      if (message === null) {
        session.endPostInstall({ lost: "the node closed its control connection" });
        break;
      }
      host.heard(session, true);
      if (message.type !== FrameType.PHASE) continue;
      host.phase(session, message.body, message.body.ok);
      if (message.body.end) {
        session.endPostInstall(message.body);
        break;
      }
    }
  } catch (error) {
    session.endPostInstall({ lost: describeError(error) });
  }
  session.control.close();
  host.postInstallEnded(session);
}
