/**
 * Sends the engine's log records to stderr: debug records with --verbose, warnings otherwise.
 * The records are written synchronously, like every other stderr line, so none is lost at exit
 * and none lands inside a progress line.
 *
 * @module
 */

import { configure, getTextFormatter, type LogRecord } from "@logtape/logtape";
import { stderrOut } from "./terminal.ts";

/** Configures logging: debug records on stderr with `verbose`, warnings only otherwise. */
export async function setupLogging(verbose: boolean): Promise<void> {
  const err = stderrOut();
  const format = getTextFormatter({ timestamp: "time", category: "." });
  await configure({
    sinks: { stderr: (record: LogRecord) => err.write(format(record)) },
    loggers: [
      { category: ["kad"], lowestLevel: verbose ? "debug" : "warning", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["stderr"] },
    ],
    reset: true,
  });
}
