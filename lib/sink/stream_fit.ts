/**
 * Whether a node's sink fits what the server streams, decided when the node joins, before it
 * writes one byte: a tar written raw over a disk, or raw bytes fed to `tar -x`, would fail late
 * or — worse — be reported as a verified copy of the wrong thing. The server decides (it refuses
 * the node with this message), from the sink kind the node announces in HELLO.
 *
 * @module
 */

import type { StreamInfo } from "../protocol/messages.ts";
import type { SinkSpec } from "./sink.ts";

/**
 * Why a sink of kind `sink` cannot take `stream`, with the option that would, or null when it
 * can. `raw`: the operator asked to store any stream's bytes as they are (`kad join --raw`).
 */
export function sinkMismatch(
  sink: SinkSpec["kind"] | string,
  stream: StreamInfo,
  raw: boolean,
): string | null {
  const what = `The server streams ${stream.description}`;
  if (stream.kind === "tar" && (sink === "dd" || sink === "file") && !raw) {
    const option = sink === "dd" ? "--dd" : "--out";
    return `${what} (a tar archive), but ${option} writes raw bytes: use --to DIR to extract it, ` +
      `or add --raw to store the archive itself`;
  }
  if (stream.kind === "raw" && sink === "dir") {
    return `${what} (raw bytes, not a tar archive), but --to extracts a tar: use --dd DEVICE or --out FILE, ` +
      `or --cmd "tar -x -C DIR" if the bytes are a tar archive`;
  }
  return null;
}
