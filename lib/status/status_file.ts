/**
 * `kad serve --status-file FILE`: the deployment's status as JSON, rewritten every
 * {@link STATUS_FILE_INTERVAL_MS} while it runs and once more at the end, atomically (a reader sees
 * the previous whole file or the new whole file, never a part), for scripts and monitoring.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { ConfigError, describeError } from "../errors.ts";
import type { StatusSource } from "./status_server.ts";

/** How often the file is rewritten when the status changed. */
export const STATUS_FILE_INTERVAL_MS = 1000;

/** Keeps a status file up to date. */
export class StatusFile {
  readonly #path: string;
  readonly #temp: string;
  readonly #source: StatusSource;
  readonly #timer: ReturnType<typeof setInterval>;
  #written = -1;
  #writing: Promise<void> = Promise.resolve();
  #error: unknown = null;

  /**
   * Writes the status to `path` now and every second.
   * @throws {ConfigError} when the file cannot be written.
   */
  static async start(path: string, source: StatusSource): Promise<StatusFile> {
    const file = new StatusFile(path, source);
    await file.write();
    if (file.#error !== null) {
      file.#stop();
      throw new ConfigError(`Cannot write the status file "${path}": ${describeError(file.#error)}`);
    }
    return file;
  }

  private constructor(path: string, source: StatusSource) {
    this.#path = path;
    // beside the file: a rename within one directory replaces it atomically
    this.#temp = join(dirname(path), `.${path.split("/").at(-1)}.${Deno.pid}.tmp`);
    this.#source = source;
    this.#timer = setInterval(() => void this.write(), STATUS_FILE_INTERVAL_MS);
  }

  /** Rewrites the file if the status changed; a failure is kept for {@link close} to report. */
  write(): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      const version = this.#source.version;
      if (version === this.#written) return;
      try {
        await Deno.writeTextFile(this.#temp, JSON.stringify(this.#source.snapshot()) + "\n");
        await Deno.rename(this.#temp, this.#path);
        this.#written = version;
        this.#error = null;
      } catch (error) {
        this.#error = error;
      }
    });
    return this.#writing;
  }

  /**
   * Writes the final status and stops.
   * @throws {ConfigError} when the last write failed.
   */
  async close(): Promise<void> {
    this.#stop();
    await this.write();
    if (this.#error !== null) {
      await Deno.remove(this.#temp).catch(() => {});
      throw new ConfigError(`Cannot write the status file "${this.#path}": ${describeError(this.#error)}`);
    }
  }

  #stop(): void {
    clearInterval(this.#timer);
  }
}
