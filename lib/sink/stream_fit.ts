/**
 * Whether a node's sink fits what the server streams, decided when the node joins, before it
 * writes one byte: a tar written raw over a disk, or raw bytes fed to `tar -x`, would fail late
 * or — worse — be reported as a verified copy of the wrong thing. The server decides (it refuses
 * the node with this message), from the sink kind the node announces in HELLO.
 *
 * @module
 */

import { RAW_FEATURE, type StreamInfo, ZSTD_FEATURE } from "../protocol/messages.ts";
import type { SinkSpec } from "./sink.ts";

/**
 * Why a node with a sink of kind `sink` and HELLO `features` cannot take `stream`, with what
 * would make it fit, or null when it can. {@link RAW_FEATURE}: the operator asked to store any
 * stream's bytes as they are (`kad join --raw`); {@link ZSTD_FEATURE}: it can decompress.
 */
export function sinkMismatch(
  sink: SinkSpec["kind"] | string,
  stream: StreamInfo,
  features: readonly string[],
): string | null {
  const what = `The server streams ${stream.description}`;
  const raw = features.includes(RAW_FEATURE);
  if (stream.compression === "zstd" && !features.includes(ZSTD_FEATURE)) {
    return `${what}, compressed with zstd, and this node has no zstd tool to decompress it: ` +
      `apt-get install zstd`;
  }
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
