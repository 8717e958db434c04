/**
 * docs/options.md, generated from the flag definitions (cli/commands.ts): every command's options
 * with their values, defaults and help. `deno task docs` rewrites it; a test checks it is current.
 *
 * @module
 */

import { COMMANDS } from "./commands.ts";

/** The options reference as Markdown. */
export function optionsMarkdown(): string {
  const lines = [
    "# kad options",
    "",
    "Generated from `cli/commands.ts` by `deno task docs`; `kad COMMAND --help` prints the same.",
    "",
  ];
  for (const command of COMMANDS) {
    lines.push(`## kad ${command.name}`, "", `\`${command.usage}\``, "", `${command.summary}.`, "");
    lines.push("| option | default | meaning |", "| --- | --- | --- |");
    for (const flag of command.flags) {
      const name = `\`--${flag.name}${flag.value ? ` ${flag.value}` : ""}\`${
        flag.multiple ? " (repeatable)" : ""
      }`;
      lines.push(
        `| ${name.replaceAll("|", "\\|")} | ${flag.shown ?? ""} | ${flag.help.replaceAll("|", "\\|")} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const path = new URL("../docs/options.md", import.meta.url);
  await Deno.writeTextFile(path, optionsMarkdown());
  console.log(`wrote ${path.pathname}`);
}
