/**
 * A node's local sink as its relay uses it: opened behind the decompressor when the stream is
 * compressed, fed by the fan-out as one more output, its first failure kept (with
 * `--abort-on-sink-error` the node then leaves the stream), and settled at the end: committed on
 * a verified copy, aborted otherwise.
 *
 * @module
 */

import { KadError } from "../errors.ts";
import { type StreamCompression, type WireError, wireError } from "../protocol/messages.ts";
import type { FanOutput } from "../relay/fan_out.ts";
import { DecompressingSink } from "../sink/decompressing_sink.ts";
import { openSink } from "../sink/open_sink.ts";
import type { FileResume } from "../sink/file_sink.ts";
import type { Sink, SinkSpec } from "../sink/sink.ts";

/** The sink of one node's relay. */
export class NodeSink {
  /** Its output in the node's fan-out (payload bytes, as they are published). */
  readonly output: FanOutput;
  readonly #sink: Sink;
  readonly #leave: ((error: KadError) => void) | null;
  #error: WireError | null = null;

  private constructor(sink: Sink, leave: ((error: KadError) => void) | null) {
    this.#sink = sink;
    this.#leave = leave;
    this.output = {
      name: `sink (${sink.description})`,
      view: "payload",
      write: (bytes) => sink.write(bytes),
      abort: () => void sink.abort(),
    };
  }

  /**
   * Opens `spec` (behind `zstd -d` on a compressed stream). `leave`: called on the first failure
   * when the node must leave the stream then (`--abort-on-sink-error`); null keeps it relaying.
   */
  static async open(
    spec: SinkSpec,
    compression: StreamCompression,
    leave: ((error: KadError) => void) | null,
    resume: FileResume | null = null,
  ): Promise<NodeSink> {
    return new NodeSink(await openSink(spec, compression, resume), leave);
  }

  /** The sink's first failure, or null. */
  get error(): WireError | null {
    return this.#error;
  }

  /** A write failed: the node keeps relaying (its verdict is this failure), or leaves. */
  failed(error: WireError): void {
    this.#error ??= error;
    this.#leave?.(new KadError(error.code, `${error.message} (--abort-on-sink-error)`));
  }

  /**
   * Finishes the sink; commits it on a verified copy (`verdict` null), else aborts it. Returns the
   * node's verdict: the sink's own failure first; on a compressed stream, the sink must have got
   * the source's `rawBytes`.
   */
  async settle(verdict: WireError | null, rawBytes: number | null): Promise<WireError | null> {
    const sink = this.#sink;
    try {
      await sink.finish();
    } catch (error) {
      // a failed write already carries the exit status; otherwise the exit status is the reason
      this.#error ??= wireError(error, "LWF");
    }
    verdict = this.#error ?? verdict;
    if (verdict === null && sink instanceof DecompressingSink && sink.rawBytes !== rawBytes) {
      verdict = {
        code: "BBC",
        message: `Decompressed to ${sink.rawBytes} bytes, the source had ${rawBytes}`,
      };
    }
    if (verdict === null) await sink.commit();
    else await sink.abort();
    return verdict;
  }

  /** Stops the sink and removes its partial output; never throws. */
  abort(): Promise<void> {
    return this.#sink.abort();
  }
}
