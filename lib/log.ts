/**
 * The engine's logger. The library only emits records; the CLI decides where they go. LogTape is
 * imported here and in cli/logging.ts only.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";

/** Returns the logger for a part of the engine, e.g. `logger("relay")`. */
export function logger(part: string): Logger {
  return getLogger(["kad", part]);
}
