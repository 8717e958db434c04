/**
 * Certificates for TLS specs, made by the real openssl: a CA, a server certificate it signed for
 * the loopback address, and an unrelated CA.
 */

import { join } from "node:path";

/** PEM files in a directory. */
export interface TestPki {
  /** The CA's certificate. */
  ca: string;
  /** The server's certificate (signed by `ca`; valid for 127.0.0.1 only, not `localhost`). */
  cert: string;
  /** The server's private key. */
  key: string;
  /** A CA that signed nothing here. */
  otherCa: string;
}

/** True when an `openssl` command is on the PATH. */
export function opensslAvailable(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** Makes the certificates under `dir`. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  const file = (name: string) => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const ca of ["ca", "other-ca"]) {
    await openssl(["req", "-x509", ...ec, "-keyout", file(`${ca}.key`), "-out", file(`${ca}.pem`)].concat(
      ["-days", "2", "-subj", `/CN=kad test ${ca}`],
    ));
  }
  await openssl([
    "req",
    ...ec,
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
    "-subj",
    "/CN=kad",
  ]);
  await Deno.writeTextFile(file("server.ext"), "subjectAltName=IP:127.0.0.1\n");
  await openssl([
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    file("server.ext"),
    "-out",
    file("server.pem"),
  ]);
  return {
    ca: file("ca.pem"),
    cert: file("server.pem"),
    key: file("server.key"),
    otherCa: file("other-ca.pem"),
  };
}

async function openssl(args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}
