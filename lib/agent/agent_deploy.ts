/**
 * `kad serve --launch agents`: the head hands the deployment to its agents, each of which runs the
 * same `kad join` an operator would, against the serving host (the head's, as the agent reaches
 * it). Ends as the launchers of lib/cluster/launcher.ts do: one {@link LaunchEnd} per host.
 *
 * @module
 */

import { describeError } from "../errors.ts";
import type { LaunchEnd } from "../cluster/launcher.ts";
import { newJobId } from "../protocol/agent_messages.ts";
import { HeadClient } from "./head_client.ts";

/** A deployment handed to agents. */
export interface AgentDeployOptions {
  /** The head, and the token it and its agents share. */
  head: { host: string; port: number };
  token: string;
  /** The server's control port (on the head's host). */
  port: number;
  /** What `kad join` gets besides the server, a name and the token (the sink…). */
  args: string[];
  /** The agents to use; null: every connected agent. */
  nodes: string[] | null;
  /** Limit on reaching the head. */
  connectTimeoutMs: number;
  /** The agents the deployment went to (before any of them joins). */
  onHosts(hosts: string[]): void;
  /** A line a node's `kad join` wrote. */
  onLine(host: string, line: string): void;
  /** A node's `kad join` ended. */
  onEnd(end: LaunchEnd): void;
}

/** The agents' part of one deployment. */
export class AgentDeploy {
  #client: HeadClient | null = null;
  /** Resolves once every agent's `kad join` ended. */
  readonly ended: Promise<LaunchEnd[]>;

  constructor(options: AgentDeployOptions) {
    this.ended = this.#run(options);
  }

  /** Stops the agents' `kad join` still running (the head cancels them when this client leaves). */
  stop(): void {
    this.#client?.close();
  }

  async #run(options: AgentDeployOptions): Promise<LaunchEnd[]> {
    const ends: LaunchEnd[] = [];
    const end = (e: LaunchEnd) => {
      ends.push(e);
      options.onEnd(e);
    };
    try {
      this.#client = await HeadClient.connect(
        options.head,
        options.token,
        `serve@${Deno.hostname()}`,
        options.connectTimeoutMs,
      );
      await this.#client.run({
        kind: "deploy",
        job: newJobId(),
        port: options.port,
        args: options.args,
        nodes: options.nodes,
      }, {
        plan: (plan) => {
          options.onHosts([...plan.nodes, ...plan.missing]);
          for (const host of plan.missing) end({ host, code: 255, message: "not connected to the head" });
        },
        output: ({ node, lines }) => lines.forEach((line) => options.onLine(node, line)),
        // a node's own last words (its output) say more than "exit code 1"
        exit: ({ node, code, error }) =>
          end({ host: node, code: code ?? 255, message: code === null ? error : "" }),
      });
    } catch (error) {
      end({ host: "", code: 255, message: `kad head: ${describeError(error)}` });
    } finally {
      this.#client?.close();
    }
    return ends;
  }
}
