/**
 * The live status page's HTTP server (`kad serve --ui`), run inside the server process: `GET /` the
 * page (shipped inside kad: no build step, no CDN), `GET /status.json` the status now, and `GET
 * /events` the status pushed as Server-Sent Events whenever it changed, at most every
 * {@link PUSH_INTERVAL_MS}. With a token every request must carry it, as the password of HTTP Basic
 * authentication (the browser asks for it) or as `Authorization: Bearer TOKEN`; the page never
 * shows it. Without a token it serves loopback only. Given the server's TLS identity it serves
 * HTTPS, so a token crosses the network encrypted.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import type { TlsIdentity } from "../net/tls.ts";
import { secretMatches } from "../security/key_derivation.ts";
import type { DeploymentStatus } from "./deployment_status.ts";
import { STATUS_PAGE_HTML } from "./status_page.ts";

/** How often the status is pushed when it changed. */
export const PUSH_INTERVAL_MS = 500;
/** A comment line keeps idle event streams open through proxies this often. */
const KEEPALIVE_MS = 15_000;

/** What a status server serves. */
export interface StatusSource {
  /** The status now. */
  snapshot(): DeploymentStatus;
  /** Grows with every change. */
  readonly version: number;
}

/** Options of a {@link StatusServer}. */
export interface StatusServerOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind (0: any free one). */
  port: number;
  /** The token every request must carry; null serves loopback only, to anyone on this machine. */
  token: string | null;
  /** Serve HTTPS with this certificate and key (the server's `--tls` identity); plain HTTP when absent. */
  tls?: TlsIdentity | null;
}

/** True for an address only this machine can reach. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const encoder = new TextEncoder();

/** The live status page's server. */
export class StatusServer {
  readonly #source: StatusSource;
  readonly #token: string | null;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  readonly #timer: ReturnType<typeof setInterval>;
  #pushed = -1;
  #lastWrite = 0;

  /**
   * Starts serving `source`.
   * @throws {ConfigError} for a non-loopback address without a token, or an address it cannot bind.
   */
  constructor(source: StatusSource, options: StatusServerOptions) {
    if (options.token === null && !isLoopback(options.hostname)) {
      throw new ConfigError(
        `The status page on ${options.hostname} would be open to the network: it needs a token there`,
      );
    }
    this.#source = source;
    this.#token = options.token;
    try {
      const tls = options.tls ? { cert: options.tls.cert, key: options.tls.key } : {};
      this.#server = Deno.serve(
        { hostname: options.hostname, port: options.port, onListen: () => {}, ...tls },
        (request) => this.#handle(request),
      );
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigError(`Cannot serve the status page on ${options.hostname}:${options.port}: ${reason}`);
    }
    this.#timer = setInterval(() => this.push(), PUSH_INTERVAL_MS);
  }

  /** Where it listens. */
  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Sends the status to every open event stream if it changed (or a keepalive when idle long). */
  push(): void {
    const version = this.#source.version;
    const now = performance.now();
    if (version === this.#pushed) {
      if (now - this.#lastWrite >= KEEPALIVE_MS) this.#write(": keepalive\n\n");
      return;
    }
    this.#pushed = version;
    this.#write(`data: ${JSON.stringify(this.#source.snapshot())}\n\n`);
  }

  /** Sends the last status, ends the event streams and stops serving. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.push();
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
    await this.#server.shutdown();
  }

  #write(text: string): void {
    this.#lastWrite = performance.now();
    const bytes = encoder.encode(text);
    for (const stream of this.#streams) {
      try {
        stream.enqueue(bytes);
      } catch {
        this.#streams.delete(stream); // the browser went away
      }
    }
  }

  #handle(request: Request): Response {
    if (!this.#authorized(request)) {
      return new Response("kad: this status page needs the token (as the password)\n", {
        status: 401,
        headers: { "www-authenticate": 'Basic realm="kad", charset="UTF-8"' },
      });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("kad: only GET\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    const { pathname } = new URL(request.url);
    const headers = { "cache-control": "no-store", "x-content-type-options": "nosniff" };
    switch (pathname) {
      case "/":
        return new Response(STATUS_PAGE_HTML, {
          headers: {
            ...headers,
            "content-type": "text/html; charset=utf-8",
            "content-security-policy":
              "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'",
          },
        });
      case "/status.json":
        return Response.json(this.#source.snapshot(), { headers });
      case "/events":
        return this.#events(headers);
      default:
        return new Response("kad: not found\n", { status: 404, headers });
    }
  }

  #events(headers: Record<string, string>): Response {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        this.#streams.add(c);
        c.enqueue(encoder.encode(`retry: 2000\ndata: ${JSON.stringify(this.#source.snapshot())}\n\n`));
      },
      cancel: () => {
        this.#streams.delete(controller);
      },
    });
    return new Response(body, { headers: { ...headers, "content-type": "text/event-stream" } });
  }

  #authorized(request: Request): boolean {
    if (this.#token === null) return true;
    const header = request.headers.get("authorization") ?? "";
    const [scheme, value = ""] = header.split(" ", 2);
    let given = "";
    if (scheme.toLowerCase() === "bearer") given = value;
    else if (scheme.toLowerCase() === "basic") {
      try {
        const pair = atob(value);
        given = pair.slice(pair.indexOf(":") + 1);
      } catch {
        return false;
      }
    }
    return secretMatches(given, this.#token);
  }
}
