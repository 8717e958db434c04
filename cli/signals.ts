/**
 * SIGINT and SIGTERM become an AbortSignal: the engine stops its children, removes temporary
 * files and reports; a second signal exits at once. A command that was interrupted exits with
 * 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells expect.
 *
 * @module
 */

const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/** An interrupt: its signal, and the exit code once it fired. */
export interface Interrupt {
  /** Aborts on the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** 130 after SIGINT, 143 after SIGTERM; null while none came. */
  readonly exitCode: number | null;
  /** Removes the handlers. */
  dispose(): void;
}

/** An abort controller wired to SIGINT/SIGTERM. */
export function interruptSignal(): Interrupt {
  const controller = new AbortController();
  let exitCode: number | null = null;
  const handlers = (Object.keys(EXIT_CODES) as (keyof typeof EXIT_CODES)[]).map((name) => {
    const handler = () => {
      if (controller.signal.aborted) Deno.exit(EXIT_CODES[name]);
      exitCode = EXIT_CODES[name];
      controller.abort();
    };
    Deno.addSignalListener(name, handler);
    return { name, handler };
  });
  return {
    signal: controller.signal,
    get exitCode() {
      return exitCode;
    },
    dispose: () => {
      for (const { name, handler } of handlers) Deno.removeSignalListener(name, handler);
    },
  };
}
