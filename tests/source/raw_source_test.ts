import { join } from "node:path";
import { ConfigError, KadError } from "../../lib/errors.ts";
import { checkRawFile, RawFileSource } from "../../lib/source/raw_source.ts";
import { validateSource } from "../../lib/source/open_source.ts";
import { assertEquals, assertRejectsWith } from "../_helpers/assert.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

async function readAll(source: RawFileSource, chunk = 4096): Promise<number> {
  const buffer = new Uint8Array(chunk);
  let total = 0;
  for (let n = await source.read(buffer); n !== null; n = await source.read(buffer)) total += n;
  return total;
}

Deno.test("raw source: a file streams exactly the size it had when opened", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "img");
  await Deno.writeFile(path, new Uint8Array(10_000).fill(1));
  assertEquals(await checkRawFile(path, undefined), { kind: "file", size: 10_000 });
  const source = await RawFileSource.open(path, undefined);
  assertEquals(await readAll(source), 10_000);
  await source.finish();
});

Deno.test("raw source: a file that shrinks while read fails LRF, never a short copy", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "img");
  await Deno.writeFile(path, new Uint8Array(10_000));
  const source = await RawFileSource.open(path, undefined);
  await source.read(new Uint8Array(4096));
  await Deno.truncate(path, 5000);
  const error = await assertRejectsWith(
    () => readAll(source),
    KadError,
    /image .*img shrank while it was read: it ended at 5000 bytes of 10000/,
  );
  assertEquals(error.code, "LRF");
  await source.abort();
});

Deno.test("raw source: a file that grows while read fails LRF at the end", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "img");
  await Deno.writeFile(path, new Uint8Array(10_000));
  const source = await RawFileSource.open(path, undefined);
  await Deno.writeFile(path, new Uint8Array(500), { append: true });
  assertEquals(await readAll(source), 10_000, "it streams the size it announced");
  await assertRejectsWith(
    () => source.finish(),
    KadError,
    /grew while it was read: 10500 bytes now, 10000 streamed/,
  );
});

Deno.test("raw source: /dev/zero needs --size, then streams exactly that; a FIFO is a stream", async () => {
  await assertRejectsWith(
    () => checkRawFile("/dev/zero", undefined),
    ConfigError,
    /Image "\/dev\/zero" is a character device with no end of its own \(like \/dev\/zero\): give --size BYTES/,
  );
  const zero = await RawFileSource.open("/dev/zero", 100_000);
  assertEquals(zero.size, 100_000);
  assertEquals(await readAll(zero, 65536), 100_000);
  await zero.finish();
  await using dir = await tempDir();
  const fifo = join(dir.path, "fifo");
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assertEquals(await checkRawFile(fifo, undefined), { kind: "fifo", size: null });
  assertEquals(await validateSource({ kind: "image", path: fifo }), {
    kind: "raw",
    bytes: null,
    description: `FIFO ${fifo}`,
    compression: null,
  });
});

Deno.test("sources: a missing path, a file given as a directory, a directory given as an image → one clear line each", async () => {
  await using dir = await tempDir();
  const file = join(dir.path, "disk.img");
  await Deno.writeTextFile(file, "x");
  await assertRejectsWith(
    () => validateSource({ kind: "dir", path: file, excludes: [], defaultExcludes: true }),
    ConfigError,
    /^Source ".*disk\.img" is a file: serve it with --image .*disk\.img$/,
  );
  await assertRejectsWith(
    () => validateSource({ kind: "image", path: dir.path }),
    ConfigError,
    /is a directory: serve it without --image/,
  );
  await assertRejectsWith(
    () => validateSource({ kind: "image", path: join(dir.path, "nope") }),
    ConfigError,
    /Cannot serve image ".*nope": no such file or directory/,
  );
  await assertRejectsWith(
    () => validateSource({ kind: "image", path: file, size: 2 }),
    ConfigError,
    /--size 2 is more than the 1 bytes of/,
  );
});
