/**
 * The agent (`kad agent --server HEAD`): stays connected to the head between jobs and takes from
 * it, once the head proved the join token, commands (`kad run`), deployments (the same `kad join`
 * as by hand, against the head's host) and gathers. It reconnects when the head restarts or the
 * connection drops; a command of a head that is gone is stopped, a deployment or a gather (which
 * have links of their own) goes on.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import { FrameConn } from "../net/frame_conn.ts";
import { listenOn } from "../net/listen.ts";
import { FrameType, PROTOCOL_VERSION } from "../protocol/frame.ts";
import { AGENT_FEATURE, AGENT_ID_FEATURE, type AgentMessage, newJobId } from "../protocol/agent_messages.ts";
import { connectTo } from "../relay/data_link.ts";
import { proveToServer } from "../security/control_handshake.ts";
import { tokenKey } from "../security/join_token.ts";
import { randomNonce } from "../security/key_derivation.ts";
import { openKey } from "../security/sealed_key.ts";
import { GatherInbox } from "../gather/gather_inbox.ts";
import { gatherKeyContext } from "../gather/gather_link.ts";
import { runGatherNode } from "../gather/gather_node.ts";
import { AGENT_PING_MS, noDelay } from "./head.ts";
import { CommandJob, type CommandReport } from "./command_job.ts";

/** First and longest pause between two attempts to reach the head. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;

/** What an agent tells its operator. */
export type AgentEvent =
  | { type: "waiting"; head: string; reason: string }
  | { type: "connected"; head: string; name: string }
  | { type: "disconnected"; reason: string }
  | { type: "job"; job: string; kind: "run" | "deploy" | "gather"; what: string }
  | { type: "job-ended"; job: string; code: number | null; error: string };

/** Options of {@link runAgent}. */
export interface AgentOptions {
  /** The head. */
  head: { host: string; port: number };
  /** The join token. */
  token: string;
  /** The name asked for (the head makes it unique). */
  name: string;
  /** The gather listener. */
  listen: { host: string; port: number };
  /** Limit on connecting and handshakes. */
  connectTimeoutMs: number;
  /** The argv that starts this kad (for a deployment's `kad join`). */
  kad: readonly string[];
  /** Ends the agent. */
  signal: AbortSignal;
  /** Hears what happens. */
  onEvent?: (event: AgentEvent) => void;
}

/** A job running here. */
interface RunningJob {
  kind: "run" | "deploy" | "gather";
  stop(): void;
}

/**
 * Runs the agent until `options.signal` aborts.
 * @throws {ConfigError} when the gather listener cannot be opened.
 */
export async function runAgent(options: AgentOptions): Promise<void> {
  const inbox = new GatherInbox(listenOn(options.listen, "gather links"), options.connectTimeoutMs);
  const id = newJobId();
  const head = formatHost(options.head.host, options.head.port);
  let pause = RETRY_FIRST_MS;
  // back after a drop or a head's restart, the agent asks for the name it had
  let name = options.name;
  try {
    while (!options.signal.aborted) {
      let connected: Connected;
      try {
        connected = await connect(options, name, id, inbox.port);
      } catch (error) {
        options.onEvent?.({ type: "waiting", head, reason: describeError(error) });
        await sleep(pause, options.signal);
        pause = Math.min(pause * 2, RETRY_MAX_MS);
        continue;
      }
      pause = RETRY_FIRST_MS;
      name = connected.name;
      options.onEvent?.({ type: "connected", head, name });
      const reason = await follow(options, connected, inbox);
      options.onEvent?.({ type: "disconnected", reason });
      await sleep(RETRY_FIRST_MS, options.signal);
    }
  } finally {
    inbox.close();
  }
}

/** An authenticated connection to the head. */
interface Connected {
  control: FrameConn;
  sealKey: Uint8Array;
  name: string;
}

async function connect(options: AgentOptions, name: string, id: string, port: number): Promise<Connected> {
  const peer = "kad head";
  const control = new FrameConn(noDelay(await connectTo(options.head, peer, options.connectTimeoutMs)), {
    peer,
    idleTimeoutMs: options.connectTimeoutMs,
  });
  try {
    const nonce = randomNonce();
    await control.send(FrameType.HELLO, {
      version: PROTOCOL_VERSION,
      name,
      dataHost: "",
      dataPort: port,
      sink: "agent",
      features: [AGENT_FEATURE, `${AGENT_ID_FEATURE}${id}`],
      nonce,
      phases: [],
      labels: {},
      resume: null,
    });
    const session = await proveToServer(control, tokenKey(options.token), name, nonce);
    const welcome = await control.expect(FrameType.AGENT);
    if (welcome.kind !== "welcome") throw new Error(`the head said ${welcome.kind} before welcome`);
    control.idleTimeoutMs = 3 * AGENT_PING_MS;
    return { control, sealKey: session.sealKey, name: welcome.name };
  } catch (error) {
    control.close();
    throw error;
  }
}

/** Takes jobs from the head until the connection ends; returns why it ended. */
async function follow(options: AgentOptions, connected: Connected, inbox: GatherInbox): Promise<string> {
  const { control } = connected;
  const jobs = new Map<string, RunningJob>();
  const ping = setInterval(() => control.send(FrameType.PING, {}).catch(() => {}), AGENT_PING_MS);
  const stopOnAbort = () => control.close();
  options.signal.addEventListener("abort", stopOnAbort);
  try {
    for (let m = await control.readMessage(); m !== null; m = await control.readMessage()) {
      if (m.type === FrameType.AGENT) take(options, connected, inbox, jobs, m.body);
    }
    return "the head closed the connection";
  } catch (error) {
    return options.signal.aborted ? "stopped" : describeError(error);
  } finally {
    clearInterval(ping);
    options.signal.removeEventListener("abort", stopOnAbort);
    control.close();
    // a command dies with its head's connection (as with ssh); everything dies with the agent
    for (const job of jobs.values()) if (job.kind === "run" || options.signal.aborted) job.stop();
  }
}

/** Starts (or cancels) a job the head sent. */
function take(
  options: AgentOptions,
  connected: Connected,
  inbox: GatherInbox,
  jobs: Map<string, RunningJob>,
  message: AgentMessage,
): void {
  const { control, name } = connected;
  if (message.kind === "cancel") {
    jobs.get(message.job)?.stop();
    return;
  }
  const jobId = "job" in message ? message.job : "";
  const report: CommandReport = {
    output: (stream, lines) =>
      control.send(FrameType.AGENT, { kind: "output", job: jobId, node: "", stream, lines }).catch(() => {}),
  };
  const ended = (code: number | null, error: string) => {
    jobs.delete(jobId);
    options.onEvent?.({ type: "job-ended", job: jobId, code, error });
    control.send(FrameType.AGENT, { kind: "exit", job: jobId, node: "", code, error }).catch(() => {});
  };
  if (message.kind === "exec" || message.kind === "deploy") {
    const argv = message.kind === "exec" ? ["sh", "-c", message.command] : [
      ...options.kad,
      "join",
      "--server",
      formatHost(options.head.host, message.port),
      "--name",
      name,
      "--token-file",
      "/dev/stdin",
      ...message.args,
    ];
    const kind = message.kind === "exec" ? "run" : "deploy";
    options.onEvent?.({
      type: "job",
      job: jobId,
      kind,
      what: message.kind === "exec" ? message.command : argv.join(" "),
    });
    const job = CommandJob.start(argv, message.kind === "deploy" ? `${options.token}\n` : null, report);
    jobs.set(jobId, { kind, stop: () => job.stop() });
    job.ended.then((end) => ended(end.code, end.error));
    return;
  }
  if (message.kind === "gather-job") {
    options.onEvent?.({ type: "job", job: jobId, kind: "gather", what: message.source.value });
    // a cancelled gather ends with its links: the head's end closes them
    jobs.set(jobId, { kind: "gather", stop: () => {} });
    (async () => {
      const key = openKey(connected.sealKey, message.key, gatherKeyContext(jobId));
      const verdicts = await runGatherNode({
        job: jobId,
        node: name,
        key,
        parent: { host: message.parent.host || options.head.host, port: message.parent.port },
        children: message.children,
        source: message.source,
        merge: message.merge,
        timeoutMs: options.connectTimeoutMs,
      }, inbox);
      const bad = verdicts.find((v) => v.node === name && v.status === "failed");
      return bad ? { code: 1, error: bad.error } : { code: 0, error: "" };
    })().then(
      (end) => ended(end.code, end.error),
      (error) => ended(null, describeError(error)),
    );
  }
}

/** `host:port`, with brackets around an IPv6 host. */
function formatHost(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
