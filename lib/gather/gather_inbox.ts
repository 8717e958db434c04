/**
 * The receiving end of gather links on one listener: links are authenticated with their job's key
 * and handed to whoever expects that child of that job. A link may arrive before its job is known
 * here (the head tells parent and children at once); it waits for it, up to the connect limit. A
 * child that never links is failed after the same limit.
 *
 * @module
 */

import { describeError, KadError, TimeoutError } from "../errors.ts";
import { acceptGatherLink, type IncomingLink } from "./gather_link.ts";
import { logger } from "../log.ts";

const log = logger("gather");

interface Expected {
  key: Uint8Array;
  children: Map<
    string,
    { resolve: (link: IncomingLink) => void; reject: (error: Error) => void; taken: boolean }
  >;
}

/** Gather links arriving on a listener, sorted by job and child. */
export class GatherInbox {
  readonly #listener: Deno.Listener;
  readonly #timeoutMs: number;
  readonly #jobs = new Map<string, Expected>();
  readonly #jobWaiters = new Map<string, (() => void)[]>();
  #closed = false;

  /** Accepts links on `listener`; `timeoutMs` bounds each handshake and each wait. */
  constructor(listener: Deno.Listener, timeoutMs: number) {
    this.#listener = listener;
    this.#timeoutMs = timeoutMs;
    this.#serve();
  }

  /** The listener's port. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /**
   * Expects `children` of `job`, whose links prove `key`: one promise per child, resolved with its
   * link, rejected when it has not linked within the limit.
   */
  expect(job: string, key: Uint8Array, children: readonly string[]): Map<string, Promise<IncomingLink>> {
    const expected: Expected = { key, children: new Map() };
    const links = new Map<string, Promise<IncomingLink>>();
    for (const child of children) {
      links.set(
        child,
        new Promise<IncomingLink>((resolve, reject) => {
          const timer = setTimeout(() => {
            const limit = this.#timeoutMs / 1000;
            entry.reject(new TimeoutError(`${child} never linked (within ${limit} s)`, { node: child }));
          }, this.#timeoutMs);
          const entry = {
            taken: false,
            resolve: (link: IncomingLink) => {
              clearTimeout(timer);
              resolve(link);
            },
            reject: (error: Error) => {
              clearTimeout(timer);
              entry.taken = true;
              reject(error);
            },
          };
          expected.children.set(child, entry);
        }),
      );
    }
    this.#jobs.set(job, expected);
    for (const wake of this.#jobWaiters.get(job) ?? []) wake();
    this.#jobWaiters.delete(job);
    return links;
  }

  /** Stops waiting for `child` of `job` when it has not linked yet: its wait fails with `why`. */
  abandon(job: string, child: string, why: string): void {
    const entry = this.#jobs.get(job)?.children.get(child);
    if (entry !== undefined && !entry.taken) entry.reject(new KadError("NRF", why, { node: child }));
  }

  /** Forgets `job`. */
  forget(job: string): void {
    this.#jobs.delete(job);
  }

  /** Stops listening. */
  close(): void {
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // closed
    }
  }

  async #serve(): Promise<void> {
    try {
      for await (const raw of this.#listener) this.#take(raw);
    } catch (error) {
      if (!this.#closed) log.warn("Gather listener failed: {reason}", { reason: describeError(error) });
    }
  }

  async #take(raw: Deno.Conn): Promise<void> {
    let job: string;
    let link: IncomingLink;
    try {
      ({ job, link } = await acceptGatherLink(raw, this.#timeoutMs, (j, node) => this.#keyFor(j, node)));
    } catch (error) {
      log.debug("Gather link refused: {reason}", { reason: describeError(error) });
      return;
    }
    const entry = this.#jobs.get(job)?.children.get(link.node);
    if (entry === undefined || entry.taken) {
      link.conn.close();
      return;
    }
    entry.taken = true;
    entry.resolve(link);
  }

  /** The key of `job` for `node`, waiting a while for the job to be expected here. */
  async #keyFor(job: string, node: string): Promise<Uint8Array> {
    if (!this.#jobs.has(job)) {
      await new Promise<void>((resolve) => {
        const waiters = this.#jobWaiters.get(job) ?? [];
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        // a link for a job never expected here waits its limit, then is forgotten with its waiter
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(wake), 1);
          if (waiters.length === 0) this.#jobWaiters.delete(job);
          resolve();
        }, this.#timeoutMs);
        waiters.push(wake);
        this.#jobWaiters.set(job, waiters);
      });
    }
    const expected = this.#jobs.get(job);
    if (expected === undefined) throw new KadError("REFUSED", `No gather ${job} here`);
    const entry = expected.children.get(node);
    if (entry === undefined || entry.taken) {
      throw new KadError("REFUSED", `${node} is not an awaited child of gather ${job}`);
    }
    return expected.key;
  }
}
