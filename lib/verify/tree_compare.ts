/**
 * Compares a cloned directory tree with its source: types, content, modes, owners, symlink
 * targets, hardlink groups, empty directories and modification times.
 *
 * @module
 */

import { join } from "node:path";
import { hashFile } from "../integrity/stream_hash.ts";

/** What is recorded of one entry. */
interface EntryFacts {
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  target: string;
  content: string;
  ino: number;
  nlink: number;
}

/** One difference between the source and a clone. */
export interface TreeDifference {
  /** Path relative to the tree root ("." for the root). */
  path: string;
  /** What differs, e.g. "mode 0644 ≠ 0600". */
  what: string;
}

/** Limits of a comparison. */
export interface CompareOptions {
  /** Stop after this many differences (default 20). */
  maxDifferences?: number;
}

/** Returns the differences between `source` and `clone`; empty when identical. */
export async function compareTrees(
  source: string,
  clone: string,
  options: CompareOptions = {},
): Promise<TreeDifference[]> {
  const max = options.maxDifferences ?? 20;
  const [a, b] = await Promise.all([scanTree(source), scanTree(clone)]);
  const diffs: TreeDifference[] = [];
  const add = (path: string, what: string) => {
    if (diffs.length < max) diffs.push({ path, what });
  };
  for (const [path, fa] of a) {
    const fb = b.get(path);
    if (fb === undefined) {
      add(path, "missing in the clone");
      continue;
    }
    if (fa.type !== fb.type) {
      add(path, `type ${fa.type} ≠ ${fb.type}`);
      continue;
    }
    if (path !== "." && fa.mode !== fb.mode) add(path, `mode ${octal(fa.mode)} ≠ ${octal(fb.mode)}`);
    if (fa.uid !== fb.uid || fa.gid !== fb.gid) add(path, `owner ${fa.uid}:${fa.gid} ≠ ${fb.uid}:${fb.gid}`);
    if (fa.type === "symlink" && fa.target !== fb.target) {
      add(path, `link target "${fa.target}" ≠ "${fb.target}"`);
    }
    if (fa.type === "file") {
      if (fa.size !== fb.size) add(path, `size ${fa.size} ≠ ${fb.size}`);
      else if (fa.content !== fb.content) add(path, "content differs");
    }
    if (fa.type !== "symlink" && path !== "." && fa.mtime !== fb.mtime) {
      add(path, `mtime ${fa.mtime} ≠ ${fb.mtime}`);
    }
  }
  for (const path of b.keys()) if (!a.has(path)) add(path, "not in the source");
  for (const what of compareHardlinks(a, b)) add(what.path, what.what);
  return diffs;
}

/** Hardlink groups must be the same sets of paths in both trees. */
function compareHardlinks(a: Map<string, EntryFacts>, b: Map<string, EntryFacts>): TreeDifference[] {
  const groups = (tree: Map<string, EntryFacts>) => {
    const byIno = new Map<number, string[]>();
    for (const [path, f] of tree) {
      if (f.type === "file" && f.nlink > 1) byIno.set(f.ino, [...(byIno.get(f.ino) ?? []), path]);
    }
    return new Set([...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort().join("\u0000")));
  };
  const ga = groups(a);
  const gb = groups(b);
  const out: TreeDifference[] = [];
  for (const g of ga) {
    if (!gb.has(g)) out.push({ path: g.split("\u0000")[0], what: "hardlink group not preserved" });
  }
  return out;
}

async function scanTree(root: string): Promise<Map<string, EntryFacts>> {
  const out = new Map<string, EntryFacts>();
  const walk = async (rel: string) => {
    const full = rel === "." ? root : join(root, rel);
    const info = await Deno.lstat(full);
    const type = info.isSymlink ? "symlink" : info.isDirectory ? "dir" : info.isFile ? "file" : "other";
    out.set(rel, {
      type,
      mode: (info.mode ?? 0) & 0o7777,
      uid: info.uid ?? 0,
      gid: info.gid ?? 0,
      size: info.size,
      mtime: Math.floor((info.mtime?.getTime() ?? 0) / 1000),
      target: type === "symlink" ? await Deno.readLink(full) : "",
      content: type === "file" ? await hashFile(full) : "",
      ino: info.ino ?? 0,
      nlink: info.nlink ?? 1,
    });
    if (type === "dir") {
      for await (const entry of Deno.readDir(full)) {
        await walk(rel === "." ? entry.name : join(rel, entry.name));
      }
    }
  };
  await walk(".");
  return out;
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}
