/**
 * Fuzzing live processes: a server and two nodes take 100 000 random and mutated frames on their
 * control and data ports (over thousands of connections: a peer is closed at its first bad frame),
 * then run a real deployment that must verify.
 */

import { join } from "node:path";
import { assert, assertEquals } from "../_helpers/assert.ts";
import { fuzzFrame, Random } from "../_helpers/frame_fuzzer.ts";
import { KadProcess, KadServer, kadVariants } from "../_helpers/kad_cli.ts";
import { concatBytes } from "../_helpers/raw_peer.ts";
import { tempDir } from "../_helpers/temp_dir.ts";
import { peakRssMiB } from "../_helpers/process_memory.ts";

const variant = kadVariants()[0];
const FRAMES_PER_CONNECTION = 50;

/** Opens `connections` connections to `port`, `parallel` at a time, each writing fuzzed frames; returns frames sent. */
async function fuzzPort(port: number, connections: number, random: Random, parallel = 16): Promise<number> {
  let sent = 0;
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < connections) {
      next++;
      let conn: Deno.Conn;
      try {
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      } catch {
        continue;
      }
      const frames = Array.from({ length: FRAMES_PER_CONNECTION }, () => fuzzFrame(random));
      sent += frames.length;
      await conn.write(concatBytes(frames)).catch(() => 0); // the peer may have hung up at the first bad frame
      conn.close();
    }
  }));
  return sent;
}

Deno.test("fuzz: 100 000 mutated frames to a live server and nodes → no crash, bounded memory, the deployment verifies", async () => {
  await using dir = await tempDir();
  const random = new Random(0xf022);
  const server = new KadServer(variant, ["-", "--clients", "2"], { stdin: true });
  const port = await server.port;
  let frames = await fuzzPort(port, 1200, random);
  const outs = ["a", "b"].map((n) => join(dir.path, `${n}.bin`));
  const events: Record<string, unknown>[][] = [[], []];
  const nodes = outs.map((out, i) =>
    new KadProcess(variant, [
      "join",
      "--server",
      `127.0.0.1:${port}`,
      "--listen",
      "127.0.0.1:0",
      "--out",
      out,
      "--json",
    ], {
      lines: (line) => events[i].push(JSON.parse(line)),
    })
  );
  await server.joined(2);
  while (!server.events.some((e) => e.event === "planned")) await new Promise((r) => setTimeout(r, 20));
  const source = random.bytes(6 << 20);
  await server.process.write(source.subarray(0, 1 << 20));
  // while the stream is open, the nodes' data ports take the rest
  for (const list of events) {
    const dataPort = list.find((e) => e.event === "listening")!.port as number;
    frames += await fuzzPort(dataPort, 400, random);
  }
  assert(frames >= 100_000, `${frames} frames sent`);
  await server.process.write(source.subarray(1 << 20));
  await server.process.closeStdin();
  const peaks = await Promise.all(
    [server.process, ...nodes].map((p) => peakRssMiB(p.child.pid)),
  );
  const results = await Promise.all(nodes.map((n) => n.result()));
  for (const r of results) assertEquals(r.code, 0, r.stderr);
  const { code } = await server.result();
  assertEquals(code, 0);
  for (const out of outs) assertEquals(await Deno.readFile(out), source);
  for (const peak of peaks) assert(peak < 200, `peak RSS ${peak.toFixed(0)} MiB`);
  console.log(
    `fuzz: ${frames} frames; peak RSS of server and nodes: ${peaks.map((p) => p.toFixed(0)).join(", ")} MiB`,
  );
});
