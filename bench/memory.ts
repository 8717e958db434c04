/**
 * Memory over a long stream: a server and one node on loopback (`--null`), the resident memory of
 * both sampled (VmRSS, read through `cat` from /proc) every gigabyte. Memory must be flat in the
 * stream's length: the bench fails when either process ends more than 16 MiB above what it held
 * after the first gigabyte.
 *
 *   deno run -A bench/memory.ts [--stdin 24GB] [--bench 8GB] [--insecure]
 *
 * `--stdin SIZE` streams `head -c SIZE /dev/zero` through `kad serve -`, `--bench SIZE` the
 * generated source; both by default.
 */

import { parseArgs } from "node:util";
import { kadArgv } from "./_tools.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { stdin: { type: "string" }, bench: { type: "string" }, insecure: { type: "boolean" } },
});
const security = values.insecure ? " --insecure" : "";
const runs: { kind: "stdin" | "bench"; bytes: number }[] = [];
if (values.stdin || !values.bench) runs.push({ kind: "stdin", bytes: size(values.stdin ?? "24GB") });
if (values.bench || !values.stdin) runs.push({ kind: "bench", bytes: size(values.bench ?? "8GB") });
const LIMIT_MIB = 16;

function size(text: string): number {
  const m = /^(\d+)(GB|MB)$/.exec(text);
  if (!m) throw new Error(`a size such as 24GB, got ${text}`);
  return Number(m[1]) * (m[2] === "GB" ? 1e9 : 1e6);
}

async function rssMiB(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/status`], stdout: "piped" })
    .output();
  const kB = /^VmRSS:\s+(\d+) kB$/m.exec(new TextDecoder().decode(stdout))?.[1];
  if (kB === undefined) throw new Error(`cannot read the memory of process ${pid}`);
  return Number(kB) / 1024;
}

function load(): string {
  return new TextDecoder().decode(
    new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped" }).outputSync().stdout,
  )
    .split(" ").slice(0, 3).join(" ");
}

let failed = false;
for (const run of runs) {
  const kad = kadArgv();
  const port = 20000 + Math.floor(Math.random() * 20000);
  const serveArgs = run.kind === "stdin" ? ["-"] : ["--bench", String(run.bytes)];
  const serve = `${kad.map((a) => `'${a}'`).join(" ")} serve ${serveArgs.join(" ")} --clients 1 ` +
    `--listen 127.0.0.1 --port ${port} --json${security}`;
  const shell = run.kind === "stdin" ? `head -c ${run.bytes} /dev/zero | ${serve}` : `exec ${serve}`;
  const server = new Deno.Command("sh", { args: ["-c", shell], stdout: "piped", stderr: "null" }).spawn();
  const node = new Deno.Command(kad[0], {
    args: [
      ...kad.slice(1),
      "join",
      "--server",
      `127.0.0.1:${port}`,
      "--null",
      ...security.split(" ").filter((a) => a),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // the server is the kad listening on `port` (a pipeline's last command is not the shell itself)
  let serverPid = 0;
  for (let i = 0; i < 200 && serverPid === 0; i++) {
    const { stdout } = await new Deno.Command("pgrep", {
      args: ["-f", `^${Deno.execPath()} run .* serve .* --port ${port} --json`],
      stdout: "piped",
    })
      .output();
    serverPid = Number(new TextDecoder().decode(stdout).trim().split("\n")[0]) || 0;
    if (serverPid === 0) await new Promise((r) => setTimeout(r, 25));
  }
  // the server's progress events say how far the stream is
  const samples: { gb: number; server: number; node: number }[] = [];
  let next = 1;
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    const lines = buffered.split("\n");
    buffered = lines.pop()!;
    for (const line of lines) {
      const event = JSON.parse(line);
      if (event.event !== "progress" || event.bytes < next * 1e9) continue;
      next = Math.floor(event.bytes / 1e9) + 1;
      try {
        samples.push({
          gb: event.bytes / 1e9,
          server: await rssMiB(serverPid),
          node: await rssMiB(node.pid),
        });
      } catch {
        // a process ended between the event and the sample
      }
    }
  }
  const [serverStatus, nodeStatus] = await Promise.all([server.status, node.status]);
  console.log(
    `\n${
      run.kind === "stdin" ? `head -c ${run.bytes} /dev/zero | kad serve -` : `kad serve --bench ${run.bytes}`
    }` +
      ` → 1 node --null (load ${load()}; exit ${serverStatus.code}/${nodeStatus.code})`,
  );
  console.log("GB streamed | server RSS MiB | node RSS MiB");
  for (const s of samples) {
    console.log(
      `${s.gb.toFixed(1).padStart(11)} | ${s.server.toFixed(1).padStart(14)} | ${
        s.node.toFixed(1).padStart(12)
      }`,
    );
  }
  if (!serverStatus.success || !nodeStatus.success) {
    console.log("FAILED: the deployment did not verify");
    failed = true;
    continue;
  }
  const first = samples[0];
  const last = samples.at(-1);
  if (!first || !last || samples.length < 3) {
    console.log("FAILED: too few samples");
    failed = true;
    continue;
  }
  for (const who of ["server", "node"] as const) {
    const growth = last[who] - first[who];
    const verdict = growth <= LIMIT_MIB ? "flat" : "FAILED";
    if (growth > LIMIT_MIB) failed = true;
    console.log(
      `${who}: ${first[who].toFixed(1)} MiB after 1 GB, ${last[who].toFixed(1)} MiB at the end: ` +
        `${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MiB (limit +${LIMIT_MIB}) ${verdict}`,
    );
  }
}
if (failed) Deno.exit(1);
