/**
 * Host lists as cluster tools write them (pdsh, ClusterShell, Slurm): comma-separated names with
 * folded ranges in brackets — `node[01-64]`, `rack[1-2]-n[1-3,7]`, `gw,node[1-4]` — zero padding
 * kept from the lower bound, several ranges in one name multiplied out.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/** Most hosts one list may expand to. */
export const MAX_HOSTS = 100_000;

/**
 * The hosts `text` names, in order, each once.
 * @throws {ConfigError} on an unbalanced bracket, a bad range, or a list past {@link MAX_HOSTS}.
 */
export function expandHosts(text: string): string[] {
  const hosts: string[] = [];
  const seen = new Set<string>();
  for (const pattern of splitTopLevel(text.trim())) {
    if (pattern === "") continue;
    for (const host of expandPattern(pattern, text)) {
      if (seen.has(host)) continue;
      seen.add(host);
      hosts.push(host);
      if (hosts.length > MAX_HOSTS) {
        throw new ConfigError(`The host list "${text}" names more than ${MAX_HOSTS} hosts`);
      }
    }
  }
  return hosts;
}

/** The hosts of a hosts file: one list per line (names or folded ranges); blank lines and `#` comments skipped. */
export function parseHostsFile(text: string): string[] {
  const lists = text.split("\n").map((line) => line.replace(/#.*/, "").trim()).filter((l) => l !== "");
  return expandHosts(lists.join(","));
}

/** Splits at commas outside brackets. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "[") depth++;
    else if (text[i] === "]") depth--;
    else if (text[i] === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

function expandPattern(pattern: string, whole: string): string[] {
  const open = pattern.indexOf("[");
  if (open < 0) {
    if (pattern.includes("]") || /\s/.test(pattern)) throw bad(whole, `"${pattern}" is not a host name`);
    return [pattern];
  }
  const close = pattern.indexOf("]", open);
  if (close < 0) throw bad(whole, `"${pattern}" has a "[" without its "]"`);
  const prefix = pattern.slice(0, open);
  const rest = expandPattern(pattern.slice(close + 1), whole);
  const out: string[] = [];
  for (const item of pattern.slice(open + 1, close).split(",")) {
    for (const value of expandRange(item.trim(), whole)) {
      for (const tail of rest) out.push(prefix + value + tail);
    }
  }
  return out;
}

function expandRange(item: string, whole: string): string[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(item);
  if (!m) throw bad(whole, `"${item}" is not a number or a range FIRST-LAST`);
  const [low, high] = [Number(m[1]), Number(m[2] ?? m[1])];
  if (high < low) throw bad(whole, `the range ${item} runs backwards`);
  if (high - low >= MAX_HOSTS) throw bad(whole, `the range ${item} is too large`);
  const width = m[1].length;
  return Array.from({ length: high - low + 1 }, (_, i) => String(low + i).padStart(width, "0"));
}

function bad(whole: string, why: string): ConfigError {
  return new ConfigError(`Bad host list "${whole}": ${why}`);
}

/**
 * The shortest host list that names `hosts` the way cluster tools print them: `node[01-03,07],gw`
 * (the inverse of {@link expandHosts}; names ending in a number folded by prefix and width).
 */
export function foldHosts(hosts: readonly string[]): string {
  const numbered: { prefix: string; digits: string }[] = [];
  const plain: string[] = [];
  const padded = new Set<string>(); // prefix and width of numbers written with leading zeros
  for (const host of new Set(hosts)) {
    const m = /^(.*?)(\d+)$/.exec(host);
    if (m === null) plain.push(host);
    else {
      numbered.push({ prefix: m[1], digits: m[2] });
      if (m[2].length > 1 && m[2].startsWith("0")) padded.add(`${m[1]}\0${m[2].length}`);
    }
  }
  // "7" and "07" are different hosts: a number folds with padded ones only when it has their width
  const groups = new Map<string, { prefix: string; width: number; numbers: number[] }>();
  for (const { prefix, digits } of numbered) {
    const width = padded.has(`${prefix}\0${digits.length}`) ? digits.length : 0;
    const key = `${prefix}\0${width}`;
    const group = groups.get(key) ?? { prefix, width, numbers: [] };
    group.numbers.push(Number(digits));
    groups.set(key, group);
  }
  const parts = [...groups.values()].map(({ prefix, width, numbers }) => {
    const sorted = [...numbers].sort((a, b) => a - b);
    const text = (n: number) => String(n).padStart(width, "0");
    if (sorted.length === 1) return prefix + text(sorted[0]);
    const ranges: string[] = [];
    for (let i = 0; i < sorted.length;) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
      ranges.push(i === j ? text(sorted[i]) : `${text(sorted[i])}-${text(sorted[j])}`);
      i = j + 1;
    }
    return `${prefix}[${ranges.join(",")}]`;
  });
  return [...parts, ...plain].sort((a, b) => a.localeCompare(b, "en", { numeric: true })).join(",");
}
