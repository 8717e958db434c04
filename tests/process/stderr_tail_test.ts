import { StderrTail } from "../../lib/process/stderr_tail.ts";
import { assertEquals } from "../_helpers/assert.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("stderr tail: keeps everything below the limit", () => {
  const tail = new StderrTail(64);
  tail.push(enc("tar: a: Cannot open\n"));
  tail.push(enc("tar: Exiting with failure status\n"));
  assertEquals(tail.lastLine(), "tar: Exiting with failure status");
  assertEquals(tail.reason(), "tar: a: Cannot open");
  assertEquals(tail.text(), "tar: a: Cannot open\ntar: Exiting with failure status\n");
});

Deno.test("stderr tail: keeps only the last bytes of a chatty process", () => {
  const tail = new StderrTail(10);
  for (let i = 0; i < 1000; i++) tail.push(enc("0123456789abc"));
  tail.push(enc("END\n"));
  assertEquals(tail.text(), "789abcEND\n");
  assertEquals(tail.totalBytes, 13004);
});
