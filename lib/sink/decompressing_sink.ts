/**
 * A node's sink behind the decompressor (`kad serve --compress`): the node verifies and relays the
 * compressed stream, and its sink gets the source's own bytes.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import { ChildOutput } from "../process/child_output.ts";
import { ChildProcess } from "../process/child_process.ts";
import { decompressorSpec } from "../compression/zstd.ts";
import type { Sink } from "./sink.ts";

/** `inner`, fed through the decompressor. */
export class DecompressingSink implements Sink {
  /** The inner sink's, with the decompressor. */
  readonly description: string;
  readonly #inner: Sink;
  readonly #child: ChildProcess;
  readonly #draining: Promise<void>;
  #rawBytes = 0;

  /** Starts the decompressor in front of `inner`. */
  constructor(inner: Sink) {
    this.#inner = inner;
    this.description = `zstd -d, then ${inner.description}`;
    this.#child = ChildProcess.spawn(decompressorSpec());
    this.#draining = this.#drain(new ChildOutput(this.#child.stdout!));
    this.#draining.catch(() => {}); // observed by write() and finish()
  }

  /** Bytes the decompressor has handed to the inner sink: the source's size once finished. */
  get rawBytes(): number {
    return this.#rawBytes;
  }

  /** Feeds the inner sink; if it fails, stops the decompressor, so the next write fails too. */
  async #drain(output: ChildOutput): Promise<void> {
    try {
      for (let chunk = await output.next(); chunk !== null; chunk = await output.next()) {
        await this.#inner.write(chunk);
        this.#rawBytes += chunk.length;
      }
    } catch (error) {
      await output.cancel();
      this.#child.kill();
      throw error;
    }
  }

  /** Hands compressed bytes to the decompressor. */
  async write(bytes: Uint8Array): Promise<void> {
    try {
      await this.#child.write(bytes);
    } catch (error) {
      await this.#draining; // the inner sink's failure, if that is what stopped the decompressor
      await this.#child.wait();
      throw new KadError("LWF", `Writing to zstd -d failed: ${error}`, { cause: error });
    }
  }

  /** Ends the compressed input; waits for the decompressor, then for the inner sink. */
  async finish(): Promise<void> {
    await this.#child.closeInput();
    await this.#draining;
    await this.#child.wait();
    await this.#inner.finish();
  }

  /** Commits the inner sink. */
  commit(): Promise<void> {
    return this.#inner.commit();
  }

  /** Stops the decompressor and the inner sink. */
  async abort(): Promise<void> {
    await this.#child.stop();
    await this.#inner.abort();
  }
}
