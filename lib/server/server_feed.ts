/**
 * The server's own part of the data path: the source pumped once into a fan-out, the links to the
 * heads of the topology, and the children the server feeds itself after a repair — from its ring,
 * or by re-reading a seekable source when the ring no longer has their bytes.
 *
 * @module
 */

import { describeError, KadError } from "../errors.ts";
import { createStreamHasher, type HashAlgorithm } from "../integrity/stream_hash.ts";
import { FrameType } from "../protocol/frame.ts";
import { type Blocked, type PeerAddress, type WireError, wireError } from "../protocol/messages.ts";
import { Downstream } from "../relay/downstream.ts";
import { FanOut, NotRetainedError, relayFanOut, type RingGeometry } from "../relay/fan_out.ts";
import { type ByteCounter, pumpSource } from "../relay/stream_pump.ts";
import type { SourceOutcome } from "../report/report.ts";
import type { Source } from "../source/source.ts";
import { SERVER_NAME } from "../topology/planner.ts";
import type { StreamSeal } from "../security/stream_seal.ts";

/** Options of a {@link ServerFeed}. */
export interface ServerFeedOptions extends RingGeometry {
  /** The deployment links belong to. */
  deployment: string;
  /** Stream hash. */
  hash: HashAlgorithm;
  /** Every wait on a peer, in milliseconds. */
  timeoutMs: number;
  /** Connecting to a node's data port and the link handshake, in milliseconds. */
  connectTimeoutMs: number;
  /** The CA children's certificates must come from, on `--tls`; else null. */
  tlsCa: string | null;
  /** The stream key DATA frames are sealed under; null when unauthenticated. */
  streamKey: Uint8Array | null;
}

/** A child the server links to, and the link's key. */
export interface FeedTarget {
  /** Its data address. */
  address: PeerAddress;
  /** The link's key; null when unauthenticated. */
  key: Uint8Array | null;
  /** Fed from the source read again rather than the ring (see FanOut.addFrom's preferHistory). */
  fromHistory?: boolean;
}

/** How an adoption by the server ended. */
export type AdoptionResult =
  | { child: string; ok: true; offset: number; resent: number }
  | { child: string; ok: false; offset: number | null; reason: WireError };

/** The server's fan-out, its child links, and its adoptions. */
export class ServerFeed {
  readonly #options: ServerFeedOptions;
  readonly #fanOut: FanOut;
  /** Seals the DATA frames (authenticated links); null when unauthenticated. */
  readonly #seal: StreamSeal | null;
  readonly #downstream: Downstream;
  readonly #adoptions = new Set<Promise<void>>();
  #source: Source | null = null;

  /** Creates the ring; nothing is linked yet. */
  constructor(options: ServerFeedOptions) {
    this.#options = options;
    const sealing = options.streamKey && { key: options.streamKey, source: true };
    const { options: fanOutOptions, seal } = relayFanOut(options, options.timeoutMs, sealing);
    this.#seal = seal;
    this.#fanOut = new FanOut([], fanOutOptions);
    this.#downstream = new Downstream(this.#fanOut, {
      sealed: sealing !== null,
      deployment: options.deployment,
      self: SERVER_NAME,
      security: {
        timeoutMs: options.connectTimeoutMs,
        tls: options.tlsCa === null ? null : { ca: options.tlsCa },
      },
    });
  }

  /** The child that held the server's reading back most since the last call, and for what share of the time. */
  takeBlocked(): Blocked | null {
    return this.#fanOut.takeBlocked();
  }

  /** True when the source reads again: a node can be fed from any offset without the ring. */
  get rereadable(): boolean {
    return this.#source?.openHistory !== undefined;
  }

  /** True while a node can be fed from `offset`: the source reads again, or the ring holds that byte. */
  canFeedFrom(offset: number): boolean {
    return this.#source?.openHistory !== undefined || this.#fanOut.oldestOffset <= offset;
  }

  /** Links to the heads; returns the heads that could not be reached, with why. */
  async linkHeads(heads: FeedTarget[]): Promise<{ name: string; reason: WireError }[]> {
    const unreachable: { name: string; reason: WireError }[] = [];
    await Promise.all(heads.map(async ({ address, key }) => {
      try {
        this.#downstream.attach(await this.#downstream.connect(address, key));
      } catch (error) {
        unreachable.push({ name: address.name, reason: { code: "NNF", message: describeError(error) } });
      }
    }));
    return unreachable;
  }

  /**
   * Streams `source` to the linked heads (and whoever the server adopts meanwhile), then sends every
   * child its final frame. Never throws: the outcome carries the failure. `abortReason` says why,
   * once `signal` aborted.
   */
  async stream(
    source: Source,
    counter: ByteCounter,
    signal: AbortSignal,
    abortReason: () => WireError,
  ): Promise<SourceOutcome> {
    this.#source = source;
    await this.settled();
    const options = this.#options;
    const hasher = await createStreamHasher(options.hash);
    const onAbort = () => void source.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    let error: WireError | null = null;
    try {
      if (this.#fanOut.liveOutputs === 0) {
        throw new KadError("NNF", "No node fed by the source could be reached");
      }
      await pumpSource(source, this.#fanOut, hasher, counter, signal);
      await source.finish();
      if (signal.aborted) throw new KadError(abortReason().code, abortReason().message);
    } catch (caught) {
      // a typed failure of the stream keeps its code; anything from the source itself is LRF
      error = signal.aborted
        ? abortReason()
        : caught instanceof KadError && caught.code !== "LRF"
        ? { code: caught.code, message: caught.message }
        : { code: "LRF", message: `Source failed: ${describeError(caught)}` };
      await source.abort();
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
    // no deadline on the drain: a stalled write fails on the fan-out's write watchdog, and a child
    // still catching up (a late joiner, a repair from the source read again) may take its time
    void this.#fanOut.finish();
    const hash = hasher.digest();
    // each child gets the final frame once it has written the stream (the others do not wait for
    // it); children the server adopts later get it too
    void this.#downstream.end(
      error === null
        ? {
          type: FrameType.END,
          body: {
            bytes: counter.bytes,
            hash,
            algorithm: options.hash,
            seals: this.#seal?.chainDigest() ?? "",
            rawBytes: source.rawBytes ?? null,
          },
          offset: counter.bytes,
        }
        : { type: FrameType.ABORT, body: error, offset: 0 },
    );
    return { bytes: counter.bytes, rawBytes: source.rawBytes ?? null, hash, error };
  }

  /** The server stops feeding `node` (it failed); its bytes stay held until {@link adopt} releases them. */
  drop(node: string, reason: WireError): void {
    this.#fanOut.failOutput(node, new KadError(reason.code, reason.message, { node }));
  }

  /**
   * Feeds each target from what it holds: from the ring, else from the source read again (files
   * and block devices). Each result is told to `onResult`; then the bytes held for `released` (a
   * dropped child) go.
   */
  adopt(targets: FeedTarget[], released: string, onResult: (result: AdoptionResult) => void): void {
    const adoption = Promise.all(targets.map(async ({ address, key, fromHistory }) => {
      try {
        const history = await this.#source?.openHistory?.();
        const adopted = await this.#downstream.adopt(address, key, history, fromHistory ?? false);
        onResult({ child: address.name, ok: true, offset: adopted.offset, resent: adopted.resent });
      } catch (error) {
        onResult({
          child: address.name,
          ok: false,
          offset: error instanceof NotRetainedError ? error.offset : null,
          reason: wireError(error, "NNF"),
        });
      }
    })).then(() => this.#fanOut.release(released));
    this.#adoptions.add(adoption);
    adoption.finally(() => this.#adoptions.delete(adoption));
  }

  /** Waits until the adoptions under way have ended. */
  async settled(): Promise<void> {
    while (this.#adoptions.size > 0) await Promise.all(this.#adoptions);
  }

  /** Closes every link and the ring. */
  close(): void {
    this.#downstream.closeAll();
    this.#fanOut.close();
  }
}
