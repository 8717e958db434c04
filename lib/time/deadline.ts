/**
 * Waiting with a deadline without leaking timers.
 *
 * @module
 */

/** Resolves to the promise's value, or to `onTimeout()` after `ms` milliseconds, whichever comes first. */
export async function withDeadline<T, U>(
  promise: Promise<T>,
  ms: number,
  onTimeout: () => U,
): Promise<T | U> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
