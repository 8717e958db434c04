/** Which tools this machine has, for specs that need real ones (and say so when skipped). */

/** True when `tool` is on the PATH. */
export function hasCommand(tool: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${tool}`], stdout: "null" }).outputSync().success;
}
