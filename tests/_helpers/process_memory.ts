/**
 * Another process's memory, read from /proc through `cat`: Deno lets a test read /proc/PID only
 * with --allow-all, and a reading that silently failed would make a memory check pass for nothing.
 */

/** Peak resident memory (VmHWM) of process `pid` in MiB; throws when it cannot be read. */
export async function peakRssMiB(pid: number): Promise<number> {
  return await statusField(pid, "VmHWM");
}

/** Current resident memory (VmRSS) of process `pid` in MiB; throws when it cannot be read. */
export async function rssMiB(pid: number): Promise<number> {
  return await statusField(pid, "VmRSS");
}

async function statusField(pid: number, field: string): Promise<number> {
  const { success, stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  })
    .output();
  const kB = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(new TextDecoder().decode(stdout))?.[1];
  if (!success || kB === undefined) throw new Error(`Cannot read ${field} of process ${pid}`);
  const mib = Number(kB) / 1024;
  if (!(mib > 0)) throw new Error(`${field} of process ${pid} reads ${kB} kB`);
  return mib;
}
