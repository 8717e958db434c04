/**
 * Local sinks: where a node writes the stream it receives.
 *
 * @module
 */

/** What a node does with the stream. */
export type SinkSpec =
  /** Extract a tar stream into a directory (`tar -x`, numeric owners, permissions, xattrs, ACLs). */
  | { kind: "dir"; path: string }
  /** Write raw bytes with `dd` (large blocks, fsync at the end) to a device or file. */
  | { kind: "dd"; path: string }
  /** Write to a file, atomically renamed into place once verified. */
  | { kind: "file"; path: string }
  /** Write to standard output. */
  | { kind: "stdout" }
  /** Pipe into a shell command. */
  | { kind: "command"; command: string }
  /** Count and hash only. */
  | { kind: "null" };

/** An open sink. */
export interface Sink {
  /** A short description, e.g. "tar -x into /mnt". */
  readonly description: string;
  /** Writes bytes; the bytes may be reused when the promise settles. */
  write(bytes: Uint8Array): Promise<void>;
  /** Ends the input and waits for the sink to finish; throws a KadError (LWF) on failure. */
  finish(): Promise<void>;
  /** Called after a verified {@link finish}: makes the output visible (e.g. renames a file). */
  commit(): Promise<void>;
  /** Stops the sink at once and removes temporary output; never throws. */
  abort(): Promise<void>;
}

/** A one-line description of a sink spec. */
export function describeSink(spec: SinkSpec): string {
  switch (spec.kind) {
    case "dir":
      return `tar -x into ${spec.path}`;
    case "dd":
      return `dd to ${spec.path}`;
    case "file":
      return `file ${spec.path}`;
    case "stdout":
      return "standard output";
    case "command":
      return `command: ${spec.command}`;
    case "null":
      return "null (count and hash only)";
  }
}
