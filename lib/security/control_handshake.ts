/**
 * Both sides of the control connection's handshake (see handshake.ts): after it, the connection's
 * frames carry MACs and the node holds the key its link keys are sealed with.
 *
 * @module
 */

import { AuthError, KadError, ProtocolError } from "../errors.ts";
import type { FrameConn } from "../net/frame_conn.ts";
import { FrameType } from "../protocol/frame.ts";
import { frameName, type HelloMessage } from "../protocol/messages.ts";
import { controlProof, type ControlSession, controlSession } from "./handshake.ts";
import { proofMatches, randomNonce, toHex } from "./key_derivation.ts";

/**
 * The node's side, after it sent HELLO with `nodeNonce`: checks the server's proof, sends its own.
 * @throws {AuthError} when the server does not prove the token or does not authenticate at all.
 */
export async function proveToServer(
  control: FrameConn,
  tokenKey: Uint8Array,
  name: string,
  nodeNonce: string,
): Promise<ControlSession> {
  const message = await control.readMessage();
  if (message === null) {
    throw new KadError("NRF", `${control.peer} closed the connection during the handshake`);
  }
  if (message.type === FrameType.ERROR || message.type === FrameType.ABORT) {
    throw new KadError(message.body.code, message.body.message);
  }
  if (message.type === FrameType.ACCEPT) {
    throw new AuthError(
      `${control.peer} does not authenticate nodes (it runs --insecure): not joining it with a token; ` +
        "give --insecure to both sides to deploy without authentication",
    );
  }
  if (message.type !== FrameType.CHALLENGE) {
    throw new ProtocolError(`Expected CHALLENGE from ${control.peer}, got ${frameName(message.type)}`);
  }
  const serverNonce = message.body.nonce;
  if (!proofMatches(message.body.proof, controlProof(tokenKey, "server", name, nodeNonce, serverNonce))) {
    await control.send(FrameType.ERROR, {
      code: "AUTH",
      message: `Node ${name} has another join token (the server's proof did not verify)`,
    }).catch(() => {});
    throw new AuthError(
      `${control.peer} did not prove the join token: this node's token differs from the server's ` +
        "(or this is not the kad server you meant)",
    );
  }
  await control.send(FrameType.AUTH, {
    proof: toHex(controlProof(tokenKey, "node", name, nodeNonce, serverNonce)),
  });
  const session = controlSession(tokenKey, "node", name, nodeNonce, serverNonce);
  control.auth = session.auth;
  return session;
}

/**
 * The server's side, after a HELLO with a nonce: proves the token, checks the node's proof.
 * @throws {AuthError} when the node does not prove the token.
 */
export async function challengeNode(
  control: FrameConn,
  tokenKey: Uint8Array,
  hello: Pick<HelloMessage, "name" | "nonce">,
): Promise<ControlSession> {
  const serverNonce = randomNonce();
  await control.send(FrameType.CHALLENGE, {
    nonce: serverNonce,
    proof: toHex(controlProof(tokenKey, "server", hello.name, hello.nonce, serverNonce)),
  });
  const message = await control.readMessage();
  if (message === null) {
    throw new AuthError(`Node ${hello.name} closed the connection during the handshake`);
  }
  if (message.type === FrameType.ERROR) throw new AuthError(message.body.message);
  if (
    message.type !== FrameType.AUTH ||
    !proofMatches(message.body.proof, controlProof(tokenKey, "node", hello.name, hello.nonce, serverNonce))
  ) {
    throw new AuthError(`Node ${hello.name} did not prove the join token (wrong token)`);
  }
  const session = controlSession(tokenKey, "server", hello.name, hello.nonce, serverNonce);
  control.auth = session.auth;
  return session;
}
