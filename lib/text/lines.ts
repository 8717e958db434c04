/**
 * The lines of a byte stream (a child's output, JSON Lines events): decoded as UTF-8, without
 * their newlines, the last one even when it has none.
 *
 * @module
 */

/** Yields each line of `stream`; a line longer than `maxLength` comes in pieces of that length. */
export async function* lines(
  stream: ReadableStream<Uint8Array>,
  maxLength = Infinity,
): AsyncGenerator<string> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.length <= maxLength) yield line;
      else for (let at = 0; at < line.length; at += maxLength) yield line.slice(at, at + maxLength);
    }
    while (pending.length > maxLength) {
      yield pending.slice(0, maxLength);
      pending = pending.slice(maxLength);
    }
  }
  if (pending !== "") yield pending;
}
