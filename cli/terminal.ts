/**
 * Where the CLI writes: people read stderr, programs read stdout. Writers are injected so tests
 * can capture what would be printed.
 *
 * @module
 */

/** A text destination. */
export interface TextOut {
  /** Writes text as is. */
  write(text: string): void;
  /** True when it is a terminal (redraws allowed). */
  readonly isTerminal: boolean;
}

const encoder = new TextEncoder();

function fileOut(file: { writeSync(p: Uint8Array): number; isTerminal(): boolean }): TextOut {
  return {
    write(text: string) {
      const bytes = encoder.encode(text);
      let done = 0;
      try {
        while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
      } catch {
        // a closed terminal or pipe must not crash a deployment
      }
    },
    isTerminal: file.isTerminal(),
  };
}

/** The process's stderr. */
export function stderrOut(): TextOut {
  return fileOut(Deno.stderr);
}

/** The process's stdout. */
export function stdoutOut(): TextOut {
  return fileOut(Deno.stdout);
}

/** True unless NO_COLOR is set (https://no-color.org) or `out` is not a terminal. */
export function useColor(out: TextOut): boolean {
  const noColor = Deno.env.get("NO_COLOR");
  return out.isTerminal && (noColor === undefined || noColor === "");
}

/** Wraps text in an ANSI colour when `enabled`. */
export function paint(text: string, color: "green" | "red" | "dim" | "bold", enabled: boolean): string {
  if (!enabled) return text;
  const codes = { green: 32, red: 31, dim: 2, bold: 1 } as const;
  return `\x1b[${codes[color]}m${text}\x1b[0m`;
}
