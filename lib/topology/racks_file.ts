/**
 * `kad serve --nodes-file FILE`: where nodes sit, for the planner. One node per line, its name then
 * labels `KEY=VALUE` (the planner reads `rack`; others are allowed and left alone); blank lines
 * and `#` comments are skipped:
 *
 * ```
 * # name    labels
 * node01    rack=r1
 * node17    rack=r2 room=b
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors.ts";
import { LABEL_KEY, MAX_LABEL_VALUE } from "../protocol/limits.ts";

/**
 * Each listed node's rack, by name.
 * @throws {ConfigError} naming the line of a label that is not KEY=VALUE or a node listed twice.
 */
export function parseRacksFile(text: string, file: string): Map<string, string> {
  const racks = new Map<string, string>();
  const seen = new Set<string>();
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const [name, ...labels] = line.split(/\s+/);
    const where = `${file}:${index + 1}`;
    if (seen.has(name)) throw new ConfigError(`${where}: node ${name} is listed twice`);
    seen.add(name);
    for (const label of labels) {
      const { key, value } = parseLabel(label, where);
      if (key === "rack") racks.set(name, value);
    }
  }
  return racks;
}

/**
 * A label `KEY=VALUE` (`kad join --label`, a nodes file).
 * @throws {ConfigError} when it is not one.
 */
export function parseLabel(text: string, where: string): { key: string; value: string } {
  const eq = text.indexOf("=");
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const spaced = [...value].some((c) =>
    c.trim() === "" || c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f
  );
  if (eq < 0 || !LABEL_KEY.test(key) || value === "" || value.length > MAX_LABEL_VALUE || spaced) {
    throw new ConfigError(
      `${where}: a label is KEY=VALUE (a lowercase key, a value of 1 to ${MAX_LABEL_VALUE} characters without spaces), got "${text}"`,
    );
  }
  return { key, value };
}
