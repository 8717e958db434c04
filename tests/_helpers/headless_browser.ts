/**
 * A real browser for page specs: headless Chromium (Debian's `chromium`) driven over the Chrome
 * DevTools Protocol on a WebSocket. Specs evaluate expressions in the page, wait for conditions
 * and take screenshots.
 */

import { toolPath } from "../../lib/process/host_tool.ts";
import { lines } from "../../lib/text/lines.ts";
import { type TempDir, tempDir } from "./temp_dir.ts";

const CHROMIUM = ["chromium", "chromium-browser", "google-chrome"];

/** The browser's path, or null when none is installed. */
export function findChromium(): string | null {
  return CHROMIUM.map(toolPath).find((path) => path !== null) ?? null;
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
}

/** A headless Chromium with one page. */
export class HeadlessBrowser implements AsyncDisposable {
  readonly #process: Deno.ChildProcess;
  readonly #profile: TempDir;
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #session = "";

  private constructor(process: Deno.ChildProcess, profile: TempDir, socket: WebSocket) {
    this.#process = process;
    this.#profile = profile;
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      this.#pending.delete(message.id);
      if (message.error) pending.reject(new Error(`CDP: ${message.error.message}`));
      else pending.resolve(message.result);
    };
  }

  /** Starts the browser (at `path`) with a page `width`×`height` pixels. */
  static async launch(path: string, width = 1280, height = 900): Promise<HeadlessBrowser> {
    const profile = await tempDir("kad-chromium-");
    const process = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--remote-debugging-port=0",
        `--user-data-dir=${profile.path}`,
        `--window-size=${width},${height}`,
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let endpoint = "";
    for await (const line of lines(process.stderr)) {
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(line);
      if (m) {
        endpoint = m[1];
        break;
      }
    }
    if (endpoint === "") {
      await profile[Symbol.asyncDispose]();
      throw new Error("chromium exited without a DevTools endpoint");
    }
    process.stderr.cancel().catch(() => {});
    const socket = new WebSocket(endpoint);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot reach chromium at ${endpoint}`));
    });
    const browser = new HeadlessBrowser(process, profile, socket);
    const { targetId } = await browser.#send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await browser.#send("Target.attachToTarget", { targetId, flatten: true });
    browser.#session = sessionId as string;
    await browser.#send("Page.enable", {}, true);
    await browser.#send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    }, true);
    return browser;
  }

  /** Opens `url` in the page. */
  async open(url: string): Promise<void> {
    await this.#send("Page.navigate", { url }, true);
  }

  /** The value of `expression` evaluated in the page (awaited when it is a promise). */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.#send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    }, true);
    if (result.exceptionDetails) {
      throw new Error(`page: ${JSON.stringify(result.exceptionDetails).slice(0, 300)}`);
    }
    return (result.result as { value: T }).value;
  }

  /** Waits until `expression` is truthy in the page; throws with `what` after `deadlineMs`. */
  async waitFor(expression: string, what: string, deadlineMs = 60_000): Promise<void> {
    const end = performance.now() + deadlineMs;
    while (performance.now() < end) {
      if (await this.evaluate<boolean>(`Boolean(${expression})`).catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the page never showed ${what} (${deadlineMs} ms)`);
  }

  /** A PNG of the whole page, written to `path`. */
  async screenshot(path: string): Promise<void> {
    const { data } = await this.#send("Page.captureScreenshot", {
      format: "png",
      captureBeyondViewport: true,
    }, true);
    await Deno.writeFile(path, Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0)));
  }

  /** Closes the browser and removes its profile. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const { reject } of this.#pending.values()) reject(new Error("browser closed"));
    this.#socket.close();
    try {
      this.#process.kill("SIGKILL");
    } catch {
      // exited
    }
    await this.#process.status;
    await this.#profile[Symbol.asyncDispose]();
  }

  #send(method: string, params: unknown, inPage = false): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    const message = { id, method, params, ...(inPage ? { sessionId: this.#session } : {}) };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify(message));
    });
  }
}
