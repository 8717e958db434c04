/**
 * The proofs and session keys of kad's two handshakes. Both sides of a connection send a fresh
 * nonce and prove a shared key over both nonces, so a recorded handshake never verifies again, and
 * derive the connection's frame keys from the same nonces (see frame_mac.ts).
 *
 * Control connection (node ↔ server, shared key: the join token's):
 * ```
 * node --HELLO {name, nonce Nn}--> server
 * node <--CHALLENGE {nonce Ns, proof_server}-- server    node checks: the server holds the token
 * node --AUTH {proof_node}--> server                      server checks: the node holds the token
 * every later frame in both directions carries a MAC
 * ```
 * Data link (upstream → child, shared key: the link key the server gave both ends):
 * ```
 * upstream --LINK {from, to, nonce Nu}--> child
 * upstream <--LINK_CHALLENGE {nonce Nc}-- child
 * upstream --LINK_AUTH {proof_upstream}--> child           child checks: its planned upstream
 * upstream <--LINK_OK (MAC)-- child                        upstream checks: its planned child
 * ```
 *
 * @module
 */

import { FrameAuth } from "./frame_mac.ts";
import { deriveKey, fromHex } from "./key_derivation.ts";

/** What a data link connects, as both ends know it. */
export interface LinkIdentity {
  /** The deployment. */
  deployment: string;
  /** The feeding side. */
  from: string;
  /** The fed side. */
  to: string;
}

/** The proof `role` sends on the control connection of node `name`. */
export function controlProof(
  tokenKey: Uint8Array,
  role: "server" | "node",
  name: string,
  nodeNonce: string,
  serverNonce: string,
): Uint8Array {
  return deriveKey(tokenKey, `kad/1 control proof ${role}`, name, fromHex(nodeNonce), fromHex(serverNonce));
}

/** Frame keys of an authenticated control connection, and the key link keys are sealed with. */
export interface ControlSession {
  /** MAC state, from the point of view of `side`. */
  auth: FrameAuth;
  /** Seals link keys for this node (sealed_key.ts). */
  sealKey: Uint8Array;
}

/** Derives the control session of node `name` as seen from `side`. */
export function controlSession(
  tokenKey: Uint8Array,
  side: "server" | "node",
  name: string,
  nodeNonce: string,
  serverNonce: string,
): ControlSession {
  const master = deriveKey(tokenKey, "kad/1 control session", name, fromHex(nodeNonce), fromHex(serverNonce));
  const toNode = deriveKey(master, "server to node");
  const toServer = deriveKey(master, "node to server");
  return {
    auth: side === "server" ? new FrameAuth(toNode, toServer) : new FrameAuth(toServer, toNode),
    sealKey: deriveKey(master, "seal"),
  };
}

/** The upstream's proof that it holds the key of `link`. */
export function linkProof(
  linkKey: Uint8Array,
  link: LinkIdentity,
  upstreamNonce: string,
  childNonce: string,
): Uint8Array {
  return deriveKey(
    linkKey,
    "kad/1 link proof",
    link.deployment,
    link.from,
    link.to,
    fromHex(upstreamNonce),
    fromHex(childNonce),
  );
}

/** Frame keys of an authenticated data link, from the point of view of `side`. */
export function linkSession(
  linkKey: Uint8Array,
  link: LinkIdentity,
  side: "upstream" | "child",
  upstreamNonce: string,
  childNonce: string,
): FrameAuth {
  const master = deriveKey(
    linkKey,
    "kad/1 link session",
    link.deployment,
    link.from,
    link.to,
    fromHex(upstreamNonce),
    fromHex(childNonce),
  );
  const down = deriveKey(master, "upstream to child");
  const up = deriveKey(master, "child to upstream");
  return side === "upstream" ? new FrameAuth(down, up) : new FrameAuth(up, down);
}

/** The context a deployment's stream key is sealed for (security/stream_seal.ts). */
export function streamKeyContext(deployment: string): string {
  return `${deployment} stream`;
}

/** The context a link key is sealed for: binds it to one link. */
export function linkKeyContext(link: LinkIdentity): string {
  return `${link.deployment} ${link.from}→${link.to}`;
}
