/**
 * What a late joiner costs, on the netlab (a bridge and one namespace per host, every port shaped):
 * N nodes that all join before the start, against N - 1 that do and one that arrives when half the
 * stream has gone by (grafted under the server, fed from the image read again). Runs alternate.
 * Times are the server's (its JSON events' `t`): from the start of streaming to each node's
 * verified copy. Every copy goes to /dev/shm and is checked against the image; the bench fails on
 * any that differs, on a node that is not ok, and on a time faster than the wire. Prints the load.
 *
 * Usage (root): deno run -A bench/late_join.ts [--nodes 4] [--size 200MB] [--rate 200mbit]
 *   [--server-rate RATE (default: --rate)] [--runs 2]
 *
 * The server feeds a late joiner itself: its port carries the stream twice while the joiner catches
 * up, which slows the chain when that port is no faster than the nodes' (`--server-rate` shows a
 * server on a faster port).
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { canBuildNetlab, Netlab, parseRate } from "../lib/netlab/netlab.ts";
import { hashFile } from "../lib/integrity/stream_hash.ts";
import { lines } from "../lib/text/lines.ts";
import { byteSize } from "../cli/flags.ts";
import { kadArgv, loadAverage, spawnPiped } from "./_tools.ts";
import { writeRandomImage } from "../tests/_helpers/random_image.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    nodes: { type: "string", default: "4" },
    size: { type: "string", default: "200MB" },
    rate: { type: "string", default: "200mbit" },
    "server-rate": { type: "string" },
    runs: { type: "string", default: "2" },
  },
});
const N = Number(values.nodes);
const BYTES = byteSize(values.size!, "size", "bench");
const RATE = values.rate!;
const SERVER_RATE = values["server-rate"] ?? RATE;
const WIRE_SECONDS = (BYTES * 8) / parseRate(RATE);
const KAD = kadArgv();

if (!canBuildNetlab()) {
  console.error("bench: the netlab needs root and iproute2 (ip, tc)");
  Deno.exit(1);
}

/** One run: seconds from the start of streaming to each node's verified copy, by node. */
interface Run {
  onTime: number[];
  late: number | null;
  /** The late joiner's own time, from its joining to its verified copy. */
  lateOwn: number | null;
}

async function run(lab: Netlab, image: string, dir: string, late: boolean): Promise<Run> {
  const [serverHost, ...hosts] = lab.hosts;
  const events: Record<string, unknown>[] = [];
  const serveArgv = ["serve", "--image", image, "--clients", String(late ? N - 1 : N), "--json"];
  const serverProcess = spawnPiped(lab.exec(serverHost, [...KAD, ...serveArgv]));
  const reading = (async () => {
    for await (const line of lines(serverProcess.stdout)) events.push(JSON.parse(line));
  })();
  while (!events.some((e) => e.event === "listening")) await new Promise((r) => setTimeout(r, 20));
  const port = events[0].port as number;
  const server = `${serverHost.address}:${port}`;
  const join = (i: number) =>
    spawnPiped(lab.exec(hosts[i], [...KAD, "join", "--server", server, "--out", copy(dir, i)]));
  const nodes = Array.from({ length: late ? N - 1 : N }, (_, i) => join(i));
  if (late) {
    for (;;) {
      const progress = events.filter((e) => e.event === "progress").at(-1);
      if (((progress?.bytes as number) ?? 0) >= BYTES / 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    nodes.push(join(N - 1));
  }
  const exits = await Promise.all(nodes.map((p) => p.output()));
  const status = await serverProcess.status;
  await reading;
  const failed = exits.find((e) => !e.success);
  if (failed || !status.success) {
    throw new Error(`a run failed: ${new TextDecoder().decode(failed?.stderr ?? new Uint8Array()).trim()}`);
  }
  const want = await hashFile(image, "sha256");
  for (let i = 0; i < N; i++) {
    if (await hashFile(copy(dir, i), "sha256") !== want) {
      throw new Error(`copy ${i + 1} differs from the image`);
    }
    await Deno.remove(copy(dir, i));
  }
  const t = (e: Record<string, unknown> | undefined) => e?.t as number;
  const start = t(events.find((e) => e.event === "planned"));
  const done = events.filter((e) => e.event === "node-done");
  const lateName = events.find((e) => e.event === "late-joined")?.name as string | undefined;
  const onTime = done.filter((e) => e.name !== lateName).map((e) => t(e) - start);
  const lateDone = done.find((e) => e.name === lateName);
  const lateJoined = events.find((e) => e.event === "late-joined");
  const result: Run = {
    onTime,
    late: lateDone ? t(lateDone) - start : null,
    lateOwn: lateDone ? t(lateDone) - t(lateJoined) : null,
  };
  if (Math.max(...onTime) < WIRE_SECONDS * 0.98) {
    throw new Error(`faster than the wire: ${Math.max(...onTime)} s`);
  }
  return result;
}

function copy(dir: string, i: number): string {
  return join(dir, `copy-${i}`);
}

const dir = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "kad-late-" });
const image = join(dir, "image");
await writeRandomImage(image, BYTES);
console.log(
  `late join: ${N} nodes, ${values.size} image, ${RATE} ports, the server's ${SERVER_RATE} ` +
    `(the wire alone: ${WIRE_SECONDS.toFixed(2)} s), ` +
    `copies in /dev/shm; load ${loadAverage()}`,
);
try {
  await using lab = await Netlab.create({
    hosts: N + 1,
    shape: { rate: RATE },
    serverShape: { rate: SERVER_RATE },
  });
  const rows: { mode: string; run: Run }[] = [];
  for (let r = 0; r < Number(values.runs); r++) {
    for (const late of r % 2 === 0 ? [false, true] : [true, false]) {
      rows.push({ mode: late ? "one late" : "all on time", run: await run(lab, image, dir, late) });
    }
  }
  console.log("mode         | on-time nodes: last verified | late joiner: verified (its own time)");
  for (const { mode, run } of rows) {
    const late = run.late === null ? "–" : `${run.late.toFixed(2)} s (${run.lateOwn!.toFixed(2)} s)`;
    console.log(`${mode.padEnd(12)} | ${Math.max(...run.onTime).toFixed(2).padStart(6)} s | ${late}`);
  }
  console.log(`load ${loadAverage()}`);
} finally {
  await Deno.remove(dir, { recursive: true });
}
