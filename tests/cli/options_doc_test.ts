import { optionsMarkdown } from "../../cli/options_doc.ts";
import { commandHelp, parseFlags, read } from "../../cli/flags.ts";
import { COMMANDS, COMMON, JOIN, SERVE, SERVE_FLAGS } from "../../cli/commands.ts";
import { DEFAULT_TIMEOUT_MS } from "../../lib/net/timeouts.ts";
import { DEFAULT_STALL_TIMEOUT_MS } from "../../lib/server/stall_detector.ts";
import { assert, assertEquals } from "../_helpers/assert.ts";

Deno.test("options: docs/options.md is what the flag definitions generate (deno task docs)", async () => {
  const committed = await Deno.readTextFile(new URL("../../docs/options.md", import.meta.url));
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext", "md", "-"],
    stdin: "piped",
    stdout: "piped",
  })
    .spawn();
  const writer = fmt.stdin.getWriter();
  await writer.write(new TextEncoder().encode(optionsMarkdown()));
  await writer.close();
  const generated = new TextDecoder().decode((await fmt.output()).stdout);
  assertEquals(committed, generated, "run deno task docs");
});

Deno.test("options: a default is the library's own constant, in the value, the help and the docs alike", () => {
  const { flags } = parseFlags(SERVE, []);
  assertEquals(read(flags, COMMON.timeout, "serve"), DEFAULT_TIMEOUT_MS);
  assertEquals(read(flags, SERVE_FLAGS.stallTimeout, "serve"), DEFAULT_STALL_TIMEOUT_MS);
  assert(commandHelp(SERVE).includes(`(default ${DEFAULT_STALL_TIMEOUT_MS / 1000})`));
  assert(optionsMarkdown().includes(`| \`--stall-timeout S\` | ${DEFAULT_STALL_TIMEOUT_MS / 1000} |`));
  // seconds on the command line, milliseconds in the value: converted once, here
  assertEquals(read(parseFlags(JOIN, ["--timeout", "2.5"]).flags, COMMON.timeout, "join"), 2500);
});

Deno.test("options: every command's flags have distinct names and a help line", () => {
  for (const command of COMMANDS) {
    const names = command.flags.map((f) => f.name);
    assertEquals(new Set(names).size, names.length, command.name);
    for (const flag of command.flags) assert(flag.help.length > 0, `${command.name} --${flag.name}`);
  }
});
