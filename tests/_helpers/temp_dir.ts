/** Temporary directories removed by `await using`. */

/** A temporary directory with a path and automatic removal. */
export interface TempDir extends AsyncDisposable {
  /** Its path. */
  path: string;
}

/** Creates a temporary directory removed at the end of the scope. */
export async function tempDir(prefix = "kad-test-"): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
