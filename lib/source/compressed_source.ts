/**
 * A source compressed on its way out (`kad serve --compress`): the source's bytes go through the
 * compressor (compression/zstd.ts), and the stream is what the compressor writes.
 *
 * @module
 */

import { ChildOutput } from "../process/child_output.ts";
import { ChildProcess } from "../process/child_process.ts";
import { type Compression, compressionName, compressorSpec } from "../compression/zstd.ts";
import type { Source } from "./source.ts";

/** How much of the source the compressor is handed at a time. */
const CHUNK_BYTES = 256 * 1024;

/** `inner`, compressed. */
export class CompressedSource implements Source {
  /** The inner source's, with the codec. */
  readonly description: string;
  /** Unknown until the compressor has finished. */
  readonly size = null;
  readonly #inner: Source;
  readonly #child: ChildProcess;
  readonly #output: ChildOutput;
  readonly #feeding: Promise<void>;
  #rawBytes = 0;

  /** Starts the compressor and feeds it `inner`. */
  constructor(inner: Source, compression: Compression) {
    this.#inner = inner;
    this.description = `${inner.description}, ${compressionName(compression)}`;
    this.#child = ChildProcess.spawn(compressorSpec(compression));
    this.#output = new ChildOutput(this.#child.stdout!);
    this.#feeding = this.#feed();
    this.#feeding.catch(() => {}); // observed by read() and finish()
  }

  /** Bytes of the source handed to the compressor so far. */
  get rawBytes(): number {
    return this.#rawBytes;
  }

  async #feed(): Promise<void> {
    const buffer = new Uint8Array(CHUNK_BYTES);
    try {
      for (;;) {
        const n = await this.#inner.read(buffer);
        if (n === null) break;
        await this.#child.write(buffer.subarray(0, n));
        this.#rawBytes += n;
      }
      await this.#inner.finish();
    } finally {
      await this.#child.closeInput();
    }
  }

  /** Copies the next compressed bytes into `p`; at the end, the source's failure if it failed. */
  async read(p: Uint8Array): Promise<number | null> {
    const n = await this.#output.read(p);
    if (n === null) await this.#feeding;
    return n;
  }

  /** Waits for the source and the compressor; throws the first failure (LRF). */
  async finish(): Promise<void> {
    await this.#feeding;
    await this.#child.wait();
  }

  /** Stops the source and the compressor. */
  async abort(): Promise<void> {
    await this.#inner.abort();
    await this.#output.cancel();
    await this.#child.stop();
  }
}
