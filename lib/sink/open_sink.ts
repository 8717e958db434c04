/**
 * Checks a sink spec before joining and opens it when the stream starts.
 *
 * @module
 */

import { dirname } from "node:path";
import { ConfigError } from "../errors.ts";
import { type FileResume, FileSink, NullSink, StdoutSink } from "./file_sink.ts";
import { ddSpec, ProcessSink, shellSpec, tarExtractSpec } from "./process_sink.ts";
import { describeSink, type Sink, type SinkSpec } from "./sink.ts";
import { DecompressingSink } from "./decompressing_sink.ts";
import type { StreamCompression } from "../protocol/messages.ts";

/** Fails with a {@link ConfigError} when the sink cannot possibly work (missing directory…). */
export async function validateSink(spec: SinkSpec): Promise<void> {
  switch (spec.kind) {
    case "dir":
      if (!(await isKind(spec.path, "dir"))) {
        throw new ConfigError(`Target directory "${spec.path}" does not exist`);
      }
      return;
    case "dd":
    case "file":
      if (!(await isKind(spec.path, "any")) && !(await isKind(dirname(spec.path), "dir"))) {
        throw new ConfigError(`Directory of "${spec.path}" does not exist`);
      }
      return;
    case "command":
      if (spec.command.trim() === "") throw new ConfigError("The --cmd command is empty");
      return;
    default:
      return;
  }
}

/**
 * Opens the sink (starts tar/dd/the command, creates the file), behind the decompressor when the
 * stream is compressed. `resume`: a file copy's record, and the bytes of its partial file to keep.
 */
export async function openSink(
  spec: SinkSpec,
  compression: StreamCompression = null,
  resume: FileResume | null = null,
): Promise<Sink> {
  const sink = await openLocal(spec, resume);
  return compression === null ? sink : new DecompressingSink(sink);
}

async function openLocal(spec: SinkSpec, resume: FileResume | null): Promise<Sink> {
  const description = describeSink(spec);
  switch (spec.kind) {
    case "dir":
      return new ProcessSink(tarExtractSpec(spec.path), description);
    case "dd":
      return new ProcessSink(ddSpec(spec.path), description);
    case "command":
      return new ProcessSink(shellSpec(spec.command), description);
    case "file":
      return await FileSink.open(spec.path, resume);
    case "stdout":
      return new StdoutSink();
    case "null":
      return new NullSink();
  }
}

async function isKind(path: string, kind: "dir" | "any"): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return kind === "any" || info.isDirectory;
  } catch {
    return false;
  }
}
