/**
 * Sources: what the server streams.
 *
 * @module
 */

/** What the server streams. */
export type SourceSpec =
  /** A directory, archived by `tar -c` (one file system, sparse, xattrs, ACLs, numeric owners). */
  | { kind: "dir"; path: string; excludes: string[]; defaultExcludes: boolean }
  /** An image file or block device, raw. */
  | { kind: "image"; path: string }
  /** Standard input, raw. */
  | { kind: "stdin" };

/** An open source. */
export interface Source {
  /** A short description, e.g. "tar of /srv/golden". */
  readonly description: string;
  /** Total bytes when known in advance (images), else null. */
  readonly size: number | null;
  /** Reads into `p`; resolves to the count or null at the end. */
  read(p: Uint8Array): Promise<number | null>;
  /** After the end: waits for the producer and throws a KadError (LRF) if it failed. */
  finish(): Promise<void>;
  /** Stops the producer at once; never throws. */
  abort(): Promise<void>;
}

/** Pseudo and volatile file systems left out of a directory source unless told otherwise. */
export const DEFAULT_EXCLUDES: readonly string[] = [
  "./proc/*",
  "./sys/*",
  "./dev/*",
  "./run/*",
  "./tmp/*",
  "./var/tmp/*",
  "./mnt/*",
  "./media/*",
  "./lost+found",
];
