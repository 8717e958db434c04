/**
 * The --out sink: a new file appears only once verified; a device or a FIFO is written in place,
 * never replaced by a file.
 */

import { join } from "node:path";
import { FileSink } from "../../lib/sink/file_sink.ts";
import { readResume, resumeRecordPath } from "../../lib/sink/resume_record.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const bytes = new TextEncoder().encode("kad was here\n");

Deno.test("file sink: a new file is written aside and renamed into place on commit", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "copy.img");
  const sink = await FileSink.open(path);
  await sink.write(bytes);
  await sink.finish();
  assert(!await exists(path), "nothing at the path before commit");
  await sink.commit();
  assertEquals(await Deno.readFile(path), bytes);
  assertEquals(sink.description, `file ${path}`);
});

Deno.test("file sink: an aborted copy leaves neither the file nor the partial file", async () => {
  await using dir = await tempDir();
  const sink = await FileSink.open(join(dir.path, "copy.img"));
  await sink.write(bytes);
  await sink.abort();
  assertEquals([...Deno.readDirSync(dir.path)], []);
});

Deno.test("file sink: a FIFO is written in place and stays a FIFO", async () => {
  await using dir = await tempDir();
  const fifo = join(dir.path, "fifo");
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  const reading = Deno.readFile(fifo);
  const sink = await FileSink.open(fifo);
  await sink.write(bytes);
  await sink.finish();
  await sink.commit();
  assertEquals(await reading, bytes);
  assert(Deno.statSync(fifo).isFifo, "still a FIFO");
  assertEquals(sink.description, `FIFO ${fifo}`);
});

Deno.test("file sink: /dev/null is written in place, never replaced by a file", async () => {
  const sink = await FileSink.open("/dev/null");
  await sink.write(bytes);
  await sink.finish();
  await sink.commit();
  assert(Deno.statSync("/dev/null").isCharDevice, "/dev/null is still a character device");
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("file sink: a copy cut off mid-stream is taken up: its record says where, whole frames kept", async () => {
  await using dir = await tempDir();
  const path = join(dir.path, "copy");
  assertEquals(await readResume(path), null, "nothing to take up");
  const record = { deployment: "d-1", name: "vm-3", frameBytes: 1000 };
  const first = await FileSink.open(path, { record, from: 0 });
  await first.write(new Uint8Array(2500).fill(7)); // then the node is killed: no commit, no abort
  assertEquals(await readResume(path), { record, holds: 2000 }, "two whole frames of 2500 bytes");
  const again = await FileSink.open(path, { record, from: 2000 });
  await again.write(new Uint8Array(1000).fill(9));
  await again.finish();
  await again.commit();
  const copy = await Deno.readFile(path);
  assertEquals([copy.length, copy[1999], copy[2000], copy[2999]], [3000, 7, 9, 9]);
  assertEquals(await readResume(path), null, "the record goes with the commit");
  assertEquals(await Deno.stat(resumeRecordPath(path)).catch(() => null), null);
});
