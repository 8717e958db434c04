/**
 * Compression once at the source (`kad serve --compress zstd[:LEVEL]`): the server compresses the
 * stream, relays forward the compressed frames as they are, and each node decompresses after its
 * frames were verified, before its sink. The codec is the Debian `zstd` tool run as a process.
 *
 * Chosen by measurement (a tar of /usr, 1 GB, level 3, this 2-core machine): compressing, `zstd
 * -T0` 162 MB/s against Deno's built-in node:zlib zstd 79 MB/s (one thread, and that thread is the
 * server's event loop); decompressing, 315 MB/s against 308 MB/s, but in a process of its own, on
 * another core than the node's relay. The price: nodes need the `zstd` tool (Debian's `zstd`
 * package; the netboot initramfs ships it); a node without it is refused when it joins. This
 * module is the one place that knows how: another codec or a library goes here.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { hasTool } from "../process/host_tool.ts";
import type { ChildSpec } from "../process/child_process.ts";

/** How a stream is compressed at the source. */
export interface Compression {
  /** The codec: zstd. */
  codec: "zstd";
  /** Its level, {@link ZSTD_MIN_LEVEL} to {@link ZSTD_MAX_LEVEL}. */
  level: number;
}

/** zstd's default level: fast, and ~2× on a system tree. */
export const ZSTD_DEFAULT_LEVEL = 3;
/** Lowest zstd level. */
export const ZSTD_MIN_LEVEL = 1;
/** Highest zstd level without `--ultra` (whose windows would cost every node 128 MiB and more). */
export const ZSTD_MAX_LEVEL = 19;

/**
 * Reads `zstd` or `zstd:LEVEL`.
 * @throws {ConfigError} for another codec or a level out of range.
 */
export function parseCompression(text: string): Compression {
  const m = /^zstd(?::(\d{1,2}))?$/.exec(text);
  const level = m ? (m[1] === undefined ? ZSTD_DEFAULT_LEVEL : Number(m[1])) : NaN;
  if (!m || level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL) {
    throw new ConfigError(
      `Compression is zstd or zstd:LEVEL with a level from ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}, got "${text}"`,
    );
  }
  return { codec: "zstd", level };
}

/** `zstd:3`. */
export function compressionName(compression: Compression): string {
  return `${compression.codec}:${compression.level}`;
}

/** True when this host can run the codec. */
export function canDecompress(): boolean {
  return hasTool("zstd");
}

/** @throws {ConfigError} unless this host has the `zstd` tool. */
export function requireZstd(what: string): void {
  if (!hasTool("zstd")) throw new ConfigError(`${what} needs the zstd tool: apt-get install zstd`);
}

/** The compressor: raw bytes on its input, the zstd stream (with its content checksum) on its output. */
export function compressorSpec(compression: Compression): ChildSpec {
  return {
    program: "zstd",
    args: [`-${compression.level}`, "-T0", "--check", "-q", "-c"],
    label: "zstd",
    failureCode: "LRF",
    stdin: "piped",
    stdout: "piped",
  };
}

/** The decompressor: it checks the content checksum the compressor wrote, and fails on a mismatch. */
export function decompressorSpec(): ChildSpec {
  return {
    program: "zstd",
    args: ["-d", "-q", "-c"],
    label: "zstd -d",
    failureCode: "LWF",
    stdin: "piped",
    stdout: "piped",
  };
}
