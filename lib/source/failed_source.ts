/**
 * A source that could not be opened at the start (its directory vanished after the server began
 * listening): it fails on the first read, so the deployment aborts every node with LRF and the
 * reason, through the same path as a source that fails mid-stream.
 *
 * @module
 */

import { describeError, KadError } from "../errors.ts";
import type { Source } from "./source.ts";

/** A source whose opening failed with `cause`. */
export class FailedSource implements Source {
  /** Describes the source. */
  readonly description: string;
  /** Unknown. */
  readonly size = null;
  readonly #error: KadError;

  /** Wraps the opening failure. */
  constructor(description: string, cause: unknown) {
    this.description = description;
    this.#error = new KadError("LRF", describeError(cause), { cause });
  }

  /** Fails. */
  read(_p: Uint8Array): Promise<number | null> {
    return Promise.reject(this.#error);
  }

  /** Fails. */
  finish(): Promise<void> {
    return Promise.reject(this.#error);
  }

  /** Nothing to stop. */
  abort(): Promise<void> {
    return Promise.resolve();
  }
}
