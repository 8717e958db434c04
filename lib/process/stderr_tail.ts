/**
 * A bounded tail of a child process's stderr: keeps only the last bytes, so a chatty `tar`
 * cannot grow memory, while the report can still quote its own words.
 *
 * @module
 */

const GENERIC_ENDINGS = /Exiting with failure status|Error is not recoverable: exiting now/;

/** Keeps the last `limit` bytes written to it. */
export class StderrTail {
  readonly #ring: Uint8Array;
  #written = 0;

  /** Creates a tail of `limit` bytes (4 KiB by default). */
  constructor(limit = 4096) {
    this.#ring = new Uint8Array(limit);
  }

  /** Appends bytes, forgetting the oldest beyond the limit. */
  push(bytes: Uint8Array): void {
    const size = this.#ring.length;
    const src = bytes.length > size ? bytes.subarray(bytes.length - size) : bytes;
    let at = (this.#written + bytes.length - src.length) % size;
    let from = 0;
    while (from < src.length) {
      const n = Math.min(src.length - from, size - at);
      this.#ring.set(src.subarray(from, from + n), at);
      from += n;
      at = (at + n) % size;
    }
    this.#written += bytes.length;
  }

  /** Total bytes ever pushed. */
  get totalBytes(): number {
    return this.#written;
  }

  /** The kept bytes as text, oldest first. */
  text(): string {
    const size = this.#ring.length;
    let bytes: Uint8Array;
    if (this.#written <= size) {
      bytes = this.#ring.subarray(0, this.#written);
    } else {
      const at = this.#written % size;
      bytes = new Uint8Array(size);
      bytes.set(this.#ring.subarray(at), 0);
      bytes.set(this.#ring.subarray(0, at), size - at);
    }
    return new TextDecoder().decode(bytes);
  }

  /** The last non-empty line, trimmed, or "". */
  lastLine(): string {
    return this.#lines().at(-1) ?? "";
  }

  /**
   * The last line that says what went wrong: tools such as tar end with a generic line
   * ("Exiting with failure status due to previous errors") after the real reason.
   */
  reason(): string {
    const lines = this.#lines();
    return lines.findLast((l) => !GENERIC_ENDINGS.test(l)) ?? lines.at(-1) ?? "";
  }

  #lines(): string[] {
    return this.text().split("\n").map((l) => l.trim()).filter((l) => l !== "");
  }
}
