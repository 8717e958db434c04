/**
 * When the server starts streaming: after N clients, after S seconds without a new join, or when
 * the operator says so (Enter on a TTY) — whichever comes first.
 *
 * @module
 */

/** Start conditions; at least one should be set. */
export interface StartTrigger {
  /** Start as soon as this many nodes have joined. */
  clients?: number;
  /** Start when this many seconds pass without a new join (once at least one node joined). */
  waitSeconds?: number;
  /** Start when this resolves (the CLI resolves it on Enter). */
  manual?: Promise<void>;
  /** The wait and the manual trigger only start once at least this many nodes joined (default 1). */
  minClients?: number;
}

/**
 * Resolves when `trigger` fires or `signal` aborts. `count` reads the current number of nodes;
 * `onJoin` installs the callback the server calls on every join or leave.
 */
export async function waitForStart(
  trigger: StartTrigger,
  count: () => number,
  onJoin: (wake: () => void) => void,
  signal?: AbortSignal,
): Promise<void> {
  let manual = false;
  trigger.manual?.then(() => manual = true);
  const floor = Math.max(1, trigger.minClients ?? 1);
  let lastCount = count();
  let lastJoinAt = performance.now();
  for (;;) {
    const n = count();
    if (signal?.aborted || (manual && n >= floor)) return;
    if (n !== lastCount) {
      lastCount = n;
      lastJoinAt = performance.now();
    }
    if (trigger.clients !== undefined && n >= trigger.clients) return;
    let waitMs = Infinity;
    if (trigger.waitSeconds !== undefined && n >= floor) {
      waitMs = lastJoinAt + trigger.waitSeconds * 1000 - performance.now();
      if (waitMs <= 0) return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      onJoin(resolve);
      if (!manual) trigger.manual?.then(() => resolve()); // once pressed, only joins can change the answer
      onAbort = () => resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (Number.isFinite(waitMs)) timer = setTimeout(resolve, waitMs);
    });
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}
