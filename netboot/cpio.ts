/**
 * The "newc" cpio format the Linux kernel unpacks as an initramfs: per entry a 110-byte ASCII
 * header (magic 070701 and thirteen 8-digit hex fields), the NUL-terminated name, padding to 4
 * bytes, the data, padding to 4 bytes; a "TRAILER!!!" entry ends the archive.
 *
 * @module
 */

/** One entry of an archive. Paths are relative ("bin/sh"), without a leading slash. */
export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array<ArrayBuffer>; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "char"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;
const TRAILER = "TRAILER!!!";

/** Where an archive goes: a stream writer, for one. */
export interface ByteWriter {
  /** Writes `chunk`, resolving once it is taken. */
  write(chunk: Uint8Array<ArrayBuffer>): Promise<void>;
}

/** Writes `entries` as a newc archive to `out`, in order; parents must come before children. */
export async function writeCpio(entries: Iterable<CpioEntry>, out: ByteWriter): Promise<void> {
  let ino = 1;
  const padding = new Uint8Array(4);
  const put = async (header: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>) => {
    await out.write(header);
    await out.write(data);
    const pad = (4 - data.length % 4) % 4;
    if (pad > 0) await out.write(padding.subarray(0, pad));
  };
  for (const entry of entries) {
    if (entry.path.startsWith("/") || entry.path === "") {
      throw new RangeError(`cpio paths are relative and not empty: "${entry.path}"`);
    }
    const { mode, data, rdev } = describe(entry);
    await put(
      header(entry.path, { ino: ino++, mode, nlink: entry.kind === "dir" ? 2 : 1, size: data.length, rdev }),
      data,
    );
  }
  await put(header(TRAILER, { ino: 0, mode: 0, nlink: 1, size: 0, rdev: [0, 0] }), new Uint8Array(0));
}

function describe(entry: CpioEntry): { mode: number; data: Uint8Array<ArrayBuffer>; rdev: [number, number] } {
  switch (entry.kind) {
    case "dir":
      return { mode: S_IFDIR | (entry.mode ?? 0o755), data: new Uint8Array(0), rdev: [0, 0] };
    case "file":
      return { mode: S_IFREG | (entry.mode ?? 0o644), data: entry.data, rdev: [0, 0] };
    case "symlink":
      return { mode: S_IFLNK | 0o777, data: new TextEncoder().encode(entry.target), rdev: [0, 0] };
    case "char":
      return {
        mode: S_IFCHR | (entry.mode ?? 0o600),
        data: new Uint8Array(0),
        rdev: [entry.major, entry.minor],
      };
  }
}

/** The header and the padded, NUL-terminated name of one entry. */
function header(
  name: string,
  f: { ino: number; mode: number; nlink: number; size: number; rdev: [number, number] },
): Uint8Array<ArrayBuffer> {
  const nameBytes = new TextEncoder().encode(name);
  const fields = [
    f.ino,
    f.mode,
    0,
    0,
    f.nlink,
    0,
    f.size,
    0,
    0,
    f.rdev[0],
    f.rdev[1],
    nameBytes.length + 1,
    0,
  ];
  const text = "070701" + fields.map((v) => v.toString(16).padStart(8, "0")).join("");
  const length = text.length + nameBytes.length + 1;
  const out = new Uint8Array(length + (4 - length % 4) % 4);
  out.set(new TextEncoder().encode(text));
  out.set(nameBytes, text.length);
  return out;
}
