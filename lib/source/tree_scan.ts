/**
 * A quick walk over a directory source before it is streamed, the way `tar -c` will see it (one
 * file system, the excludes): how many bytes it holds — an estimate of the stream's size, for the
 * ETA — and which entries this process cannot read. Run as a user other than root, such entries
 * would make tar fail the whole deployment only after every node has joined; the scan finds them
 * before the server listens.
 *
 * @module
 */

import { join } from "node:path";

/** An entry the scan could not read. */
export interface UnreadableEntry {
  /** Its path. */
  path: string;
  /** Why, in a few words ("permission denied"). */
  reason: string;
}

/** What a scan found. */
export interface TreeScan {
  /** Bytes of regular files (their apparent size: sparse files count whole, as tar's headers do not). */
  bytes: number;
  /** Entries seen. */
  entries: number;
  /** Bytes of their tar members: headers (a long name's too) and contents padded to 512-byte blocks. */
  memberBytes: number;
  /** The first entries that could not be read (at most `maxUnreadable`). */
  unreadable: UnreadableEntry[];
  /** How many could not be read in all. */
  unreadableCount: number;
}

/** Options of {@link scanTree}. */
export interface TreeScanOptions {
  /** tar `--exclude` patterns, as given to the source (`./proc/*`, `*.log`). */
  excludes: readonly string[];
  /** Open every regular file to check it is readable (for a server not run as root). */
  checkReadable: boolean;
  /** Unreadable entries kept for the message. */
  maxUnreadable?: number;
}

/** Walks `root` as `tar -c --one-file-system` would. */
export async function scanTree(root: string, options: TreeScanOptions): Promise<TreeScan> {
  const excluded = options.excludes.map(globToRegExp);
  const scan: TreeScan = { bytes: 0, entries: 0, memberBytes: 0, unreadable: [], unreadableCount: 0 };
  const max = options.maxUnreadable ?? 5;
  const unreadable = (path: string, error: unknown) => {
    scan.unreadableCount++;
    if (scan.unreadable.length < max) scan.unreadable.push({ path, reason: reasonOf(error) });
  };
  const rootDevice = (await Deno.lstat(root)).dev;
  const pending: { path: string; member: string }[] = [{ path: root, member: "." }];
  while (pending.length > 0) {
    const { path, member } = pending.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(path));
    } catch (error) {
      unreadable(path, error);
      continue;
    }
    for (const entry of entries) {
      const childPath = join(path, entry.name);
      const childMember = `${member}/${entry.name}`;
      if (excluded.some((pattern) => matchesUnanchored(pattern, childMember))) continue;
      scan.entries++;
      scan.memberBytes += headerBytes(childMember);
      if (entry.isDirectory) {
        try {
          if ((await Deno.lstat(childPath)).dev !== rootDevice) continue; // another file system
        } catch (error) {
          unreadable(childPath, error);
          continue;
        }
        pending.push({ path: childPath, member: childMember });
      } else if (entry.isFile) {
        try {
          const { size } = await Deno.lstat(childPath);
          scan.bytes += size;
          scan.memberBytes += Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
          if (options.checkReadable) (await Deno.open(childPath, { read: true })).close();
        } catch (error) {
          unreadable(childPath, error);
        }
      }
    }
  }
  return scan;
}

/** A tar wildcard pattern as a regular expression: `*` and `?` match `/` too, as GNU tar's excludes do. */
function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (const c of pattern) {
    source += c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** GNU tar matches exclude patterns unanchored: against the member name or any part after a `/`. */
function matchesUnanchored(pattern: RegExp, member: string): boolean {
  if (pattern.test(member)) return true;
  for (let i = member.indexOf("/"); i >= 0; i = member.indexOf("/", i + 1)) {
    if (pattern.test(member.slice(i + 1))) return true;
  }
  return false;
}

function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.NotFound) return "vanished while scanned";
  return error instanceof Error ? error.message : String(error);
}

const TAR_BLOCK = 512;
/** GNU tar writes its archives in records of this many bytes. */
const TAR_RECORD = 10_240;

/**
 * A member's headers as the source's `tar -c --xattrs --acls` writes them (POSIX format): an
 * extended header block and its records (times, and the path when it does not fit the ustar
 * header), then the ustar header.
 */
function headerBytes(member: string): number {
  const records = 3 * 30 + (member.length > 99 ? member.length + 12 : 0);
  return TAR_BLOCK + Math.ceil(records / TAR_BLOCK) * TAR_BLOCK + TAR_BLOCK;
}

/**
 * The size of the tar stream a scanned tree makes, about (hard links, sparse files and names
 * outside ASCII aside): its members, the two zero blocks that end the archive, rounded up to whole
 * records.
 */
export function tarSizeEstimate(scan: TreeScan): number {
  const archive = TAR_BLOCK + scan.memberBytes + 2 * TAR_BLOCK; // the root "./" too
  return Math.ceil(archive / TAR_RECORD) * TAR_RECORD;
}
