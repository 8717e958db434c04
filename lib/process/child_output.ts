/**
 * A child's standard output, read the way kad reads a source: into the caller's buffer, or chunk
 * by chunk as the pipe delivers it.
 *
 * @module
 */

/** Reads a child's standard output. */
export class ChildOutput {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #pending: Uint8Array | null = null;

  /** Reads `stream` (a piped standard output). */
  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  /** Copies the next bytes into `p`; resolves to the count, or null at the end. */
  async read(p: Uint8Array): Promise<number | null> {
    const chunk = await this.next();
    if (chunk === null) return null;
    const n = Math.min(chunk.length, p.length);
    p.set(n === chunk.length ? chunk : chunk.subarray(0, n));
    if (n < chunk.length) this.#pending = chunk.subarray(n);
    return n;
  }

  /** The next chunk as the pipe delivered it (the caller may keep it), or null at the end. */
  async next(): Promise<Uint8Array | null> {
    const pending = this.#pending;
    if (pending !== null) {
      this.#pending = null;
      return pending;
    }
    const { value, done } = await this.#reader.read();
    return done ? null : value;
  }

  /** Stops reading; never throws. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
