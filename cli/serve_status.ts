/**
 * Everything `kad serve` shows of a running deployment, from one status (lib/status): the live lines
 * on stderr, the page of `--ui [HOST:]PORT`, the file of `--status-file FILE`, and the time `t` of
 * every `--json` event. A directory source is scanned quickly first, so the ETA has a size to aim
 * at (said to be an estimate).
 *
 * @module
 */

import { ConfigError } from "../lib/errors.ts";
import type { TlsIdentity } from "../lib/net/tls.ts";
import { MIN_TOKEN_LENGTH } from "../lib/security/join_token.ts";
import type { ServeEvent } from "../lib/server/serve_events.ts";
import { StatusBoard } from "../lib/status/deployment_status.ts";
import { roundSeconds } from "../lib/time/seconds.ts";
import { StatusFile } from "../lib/status/status_file.ts";
import { isLoopback, StatusServer } from "../lib/status/status_server.ts";
import type { SourceSpec } from "../lib/source/source.ts";
import { tarExcludes } from "../lib/source/tar_source.ts";
import { scanTree, tarSizeEstimate } from "../lib/source/tree_scan.ts";
import { type FlagSpec, type ParsedFlags, read, UsageError } from "./flags.ts";
import { SERVE_FLAGS as F } from "./commands.ts";
import { readTokenFile } from "./join_token_option.ts";
import { LiveView } from "./live_view.ts";
import type { TextOut } from "./terminal.ts";

/** Where `--ui` serves, and the token it asks for (null: loopback, open to this machine). */
interface UiChoice {
  hostname: string;
  port: number;
  token: string | null;
}

/** A serve's status and the ways it is shown. */
export class ServeStatus {
  readonly #startedAt = performance.now();
  readonly #board = new StatusBoard(() => this.seconds);
  readonly #view: LiveView;
  #ui: StatusServer | null = null;
  #https = false;
  #file: StatusFile | null = null;

  private constructor(err: TextOut) {
    this.#view = new LiveView(err);
  }

  /**
   * Starts the status of a `kad serve` run with `flags`; `joinToken` guards a page open to the
   * network unless `--ui-token` gives another; with the server's `tls` identity the page is HTTPS.
   * @throws {UsageError} for a page open to the network with no token to guard it.
   * @throws {ConfigError} when the page cannot listen or the status file cannot be written.
   */
  static async start(
    flags: ParsedFlags,
    joinToken: string | null,
    tls: TlsIdentity | null,
    source: SourceSpec,
    err: TextOut,
  ): Promise<ServeStatus> {
    const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "serve");
    const status = new ServeStatus(err);
    const ui = await uiChoice(flags, joinToken);
    try {
      if (ui !== null) {
        status.#ui = new StatusServer(status.#board, { ...ui, tls });
        status.#https = tls !== null;
        const guard = ui.token === null ? "" : " (user any, password: the token)";
        err.write(`kad: live status on ${status.uiUrl}${guard}\n`);
        if (ui.token === joinToken && joinToken !== null && tls === null && !isLoopback(ui.hostname)) {
          err.write(
            "kad: WARNING: the status page is plain HTTP: a browser sends the join token in clear; " +
              "give the page a token of its own (--ui-token-file) or serve with --tls\n",
          );
        }
      }
      const statusFile = get(F.statusFile);
      if (statusFile !== undefined) status.#file = await StatusFile.start(statusFile, status.#board);
    } catch (error) {
      await status.close();
      throw error;
    }
    if (source.kind === "dir" && get(F.compress) === undefined) status.#estimate(source);
    return status;
  }

  /** Seconds since `kad serve` started. */
  get seconds(): number {
    return (performance.now() - this.#startedAt) / 1000;
  }

  /** The `t` of a JSON event: seconds since the start, 3 decimals. */
  get t(): number {
    return roundSeconds(this.seconds);
  }

  /** The page's address (`--ui`), or null. */
  get uiUrl(): string | null {
    if (this.#ui === null) return null;
    const { hostname, port } = this.#ui.addr;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    return `${this.#https ? "https" : "http"}://${host}:${port}/`;
  }

  /** Takes in a server event; progress redraws the live lines. */
  apply(event: ServeEvent): void {
    this.#board.apply(event);
    if (event.type === "progress") this.#view.update(this.#board.snapshot());
  }

  /** Clears the live lines so another line can be printed. */
  clearView(): void {
    this.#view.clear();
  }

  /** Pushes the final status to the page and the file, and stops them. */
  async close(): Promise<void> {
    this.#view.clear();
    await this.#ui?.close();
    await this.#file?.close();
  }

  /** Scans a directory source in the background, for the ETA. */
  #estimate(source: Extract<SourceSpec, { kind: "dir" }>): void {
    const excludes = tarExcludes(source.excludes, source.defaultExcludes);
    scanTree(source.path, { excludes, checkReadable: false })
      .then((scan) => this.#board.estimate(tarSizeEstimate(scan)))
      .catch(() => {}); // no estimate, no ETA: the source itself says what is wrong
  }
}

/** `--ui [HOST:]PORT` and its token; null without `--ui`. */
async function uiChoice(flags: ParsedFlags, joinToken: string | null): Promise<UiChoice | null> {
  const get = <T>(spec: FlagSpec<T>) => read(flags, spec, "serve");
  const value = get(F.ui);
  const given = get(F.uiToken);
  const file = get(F.uiTokenFile);
  if (value === undefined) {
    if (given !== undefined || file !== undefined) throw new UsageError("--ui-token is for --ui", "serve");
    return null;
  }
  if (given !== undefined && file !== undefined) {
    throw new UsageError("Give the page's token once: --ui-token or --ui-token-file", "serve");
  }
  const { hostname, port } = uiAddress(value);
  const own = given ?? (file === undefined ? undefined : await readTokenFile(file));
  const token = own === undefined ? null : checkUiToken(own);
  if (isLoopback(hostname)) return { hostname, port, token };
  if (token === null && joinToken === null) {
    throw new UsageError(
      `--ui ${value} opens the status page to the network: it needs a token, and --insecure has none: ` +
        "give --ui-token-file FILE, or serve it on loopback (--ui PORT)",
      "serve",
    );
  }
  return { hostname, port, token: token ?? joinToken };
}

/** `PORT` (on loopback) or `HOST:PORT`. */
function uiAddress(value: string): { hostname: string; port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:\s\[\]]+)):)?(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    throw new UsageError(`Option --ui takes PORT or HOST:PORT, got "${value}"`, "serve");
  }
  return { hostname: m[1] ?? m[2] ?? "127.0.0.1", port };
}

function checkUiToken(text: string): string {
  const token = text.trim();
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new ConfigError(
      `The status page's token must be at least ${MIN_TOKEN_LENGTH} characters without white space`,
    );
  }
  return token;
}
