/** Assertions: node:assert/strict, the one place it is imported. */
export {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  notDeepStrictEqual as assertNotEquals,
  ok as assert,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";

import { fail, match, ok } from "node:assert/strict";

/**
 * Awaits `fn()`, which must reject with an instance of `type` whose message matches `message`;
 * returns the error.
 */
export async function assertRejectsWith<E extends Error>(
  fn: () => Promise<unknown>,
  type: abstract new (...args: never[]) => E,
  message?: RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    ok(error instanceof type, `expected ${type.name}, got ${error}`);
    if (message) match((error as E).message, message);
    return error as E;
  }
  fail(`expected a rejection with ${type.name}`);
}

/** Awaits `promise`, failing the test when it has not settled within `ms` (a hang is a failure, not a stuck suite). */
export async function assertSettlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
