/**
 * The keys a node opens from what the server sealed for it in its PLAN (and in repairs): the key
 * of each data link it is on, and the deployment's stream key that checks the DATA frames' seals.
 *
 * @module
 */

import { AuthError } from "../errors.ts";
import { linkKeyContext, streamKeyContext } from "../security/handshake.ts";
import { openKey } from "../security/sealed_key.ts";

/** Opens one node's keys for one deployment; every key is null on an `--insecure` deployment. */
export class NodeKeys {
  readonly #sealKey: Uint8Array | null;
  readonly #deployment: string;

  /** `sealKey` opens what the server sealed for this node; null on an `--insecure` deployment. */
  constructor(sealKey: Uint8Array | null, deployment: string) {
    this.#sealKey = sealKey;
    this.#deployment = deployment;
  }

  /**
   * The key of the link `from` → `to`.
   * @throws {AuthError} when the key is missing or was not sealed for this node and link.
   */
  link(sealed: string, from: string, to: string): Uint8Array | null {
    if (this.#sealKey === null) return null;
    if (sealed === "") throw new AuthError(`The server sent no key for the link ${from}→${to}`);
    return openKey(this.#sealKey, sealed, linkKeyContext({ deployment: this.#deployment, from, to }));
  }

  /**
   * The deployment's stream key.
   * @throws {AuthError} when it is missing or was not sealed for this node.
   */
  stream(sealed: string): Uint8Array | null {
    if (this.#sealKey === null) return null;
    if (sealed === "") throw new AuthError("The server sent no stream key");
    return openKey(this.#sealKey, sealed, streamKeyContext(this.#deployment));
  }
}
