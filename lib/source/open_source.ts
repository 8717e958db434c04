/**
 * Opens a {@link SourceSpec}.
 *
 * @module
 */

import { ImageSource, StdinSource } from "./raw_source.ts";
import { GeneratedSource } from "./generated_source.ts";
import type { Source, SourceSpec } from "./source.ts";
import { TarSource } from "./tar_source.ts";

/** Opens a source; throws a ConfigError for a missing path. */
export async function openSource(spec: SourceSpec): Promise<Source> {
  switch (spec.kind) {
    case "dir":
      return await TarSource.open(spec.path, spec.excludes, spec.defaultExcludes);
    case "image":
      return await ImageSource.open(spec.path);
    case "stdin":
      return new StdinSource();
    case "generated":
      return new GeneratedSource(spec.bytes);
  }
}

/** Checks a source without starting it: the directory or image must exist. */
export async function validateSource(spec: SourceSpec): Promise<void> {
  if (spec.kind === "image") await (await ImageSource.open(spec.path)).abort();
  if (spec.kind === "dir") await TarSource.check(spec.path);
}
