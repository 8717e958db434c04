/**
 * Sends the engine's log records to stderr when --verbose is given.
 *
 * @module
 */

import { configure, getStreamSink } from "@logtape/logtape";

/** Configures logging: debug records on stderr with `verbose`, warnings only otherwise. */
export async function setupLogging(verbose: boolean): Promise<void> {
  await configure({
    sinks: { stderr: getStreamSink(Deno.stderr.writable) },
    loggers: [
      { category: ["kad"], lowestLevel: verbose ? "debug" : "warning", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["stderr"] },
    ],
    reset: true,
  });
}
