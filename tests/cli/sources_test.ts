/**
 * Sources the way people point kad at them: devices with no end, FIFOs, paths the server's user
 * cannot read. Each bad one is one clear line and exit 2 before the server listens.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { KadProcess, KadServer, type KadVariant, kadVariants, startJoin } from "../_helpers/kad_cli.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const variant = kadVariants().at(-1)!;
const isRoot = Deno.uid() === 0;

/** One clear line, exit 2, and the server never listened. */
function assertRefusedBeforeListening(r: { code: number; stdout: string; stderr: string }, line: RegExp) {
  assertEquals(r.code, 2, r.stderr);
  assertMatch(r.stderr, line);
  assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert(!/listening/.test(r.stdout + r.stderr));
}

Deno.test("sources: --image /dev/zero without --size → exit 2 before listening; with --size 20MB → a verified 20 MB copy", async () => {
  assertRefusedBeforeListening(
    await new KadProcess(variant, ["serve", "--image", "/dev/zero", "--clients", "1"]).result(),
    /^kad: Image "\/dev\/zero" is a character device with no end of its own \(like \/dev\/zero\): give --size BYTES to serve that many bytes\n$/,
  );
  const server = new KadServer(variant, ["--image", "/dev/zero", "--size", "20MB", "--clients", "1"]);
  const node = await startJoin(variant, await server.port, null, ["--null"]).result();
  const { code, report } = await server.result();
  assertEquals([code, node.code], [0, 0], node.stderr);
  assertEquals(report!.bytes, 20_000_000);
});

Deno.test("sources: a FIFO is served as a stream, opened when the deployment starts", async () => {
  await using dir = await tempDir();
  const fifo = join(dir.path, "fifo");
  await new Deno.Command("mkfifo", { args: [fifo] }).output();
  const server = new KadServer(variant, ["--image", fifo, "--clients", "1"]);
  const node = startJoin(variant, await server.port, null, ["--null"]);
  const data = crypto.getRandomValues(new Uint8Array(65536));
  const writer = await Deno.open(fifo, { write: true }); // waits for the server to open it
  for (let i = 0; i < 80; i++) await writer.write(data);
  writer.close();
  const [n, { code, report }] = await Promise.all([node.result(), server.result()]);
  assertEquals([code, n.code], [0, 0], n.stderr);
  assertEquals(report!.bytes, 80 * 65536);
  assertMatch(report!.source, /^FIFO /);
});

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/**
 * The deno executable as nobody can run it: this one, or a copy in `dir` when nobody cannot reach
 * it (`npx deno` keeps it under /root).
 */
async function denoForNobody(dir: string): Promise<string> {
  const deno = Deno.execPath();
  const reachable = await new Deno.Command(NOBODY[0], { args: [...NOBODY.slice(1), "test", "-x", deno] })
    .output();
  if (reachable.success) return deno;
  const copy = join(dir, "deno-bin");
  await Deno.copyFile(deno, copy);
  await Deno.chmod(copy, 0o755);
  return copy;
}

/** kad run as the unprivileged user nobody, with `deno` as its deno. */
function asNobody(denoDir: string, deno: string): KadVariant {
  const [first, ...rest] = variant.argv;
  return {
    name: `${variant.name} as nobody`,
    argv: [...NOBODY, "env", `DENO_DIR=${denoDir}`, first === Deno.execPath() ? deno : first, ...rest],
  };
}

Deno.test({
  name: "sources: a server not run as root names the entries it cannot read, exit 2 before listening",
  ignore: !isRoot,
  fn: async () => {
    await using dir = await tempDir();
    await Deno.chmod(dir.path, 0o755);
    const denoDir = join(dir.path, "deno");
    await Deno.mkdir(denoDir);
    await Deno.chown(denoDir, 65534, 65534);
    const golden = join(dir.path, "golden");
    await Deno.mkdir(join(golden, "etc"), { recursive: true });
    await Deno.writeTextFile(join(golden, "etc/motd"), "hi\n");
    await Deno.writeTextFile(join(golden, "etc/shadow"), "root:*:\n", { mode: 0o600 });
    await Deno.chmod(join(golden, "etc/shadow"), 0o600);
    await Deno.writeFile(join(dir.path, "secret.img"), new Uint8Array(10), { mode: 0o600 });
    await Deno.chmod(join(dir.path, "secret.img"), 0o600);
    const nobody = asNobody(denoDir, await denoForNobody(dir.path));
    assertRefusedBeforeListening(
      await new KadProcess(nobody, ["serve", golden, "--clients", "1"]).result(),
      /^kad: Cannot serve ".*golden" as user 65534: 1 entries cannot be read \(.*golden\/etc\/shadow: permission denied\): run kad serve as root, or leave them out with --exclude\n$/,
    );
    assertRefusedBeforeListening(
      await new KadProcess(nobody, ["serve", "--image", join(dir.path, "secret.img"), "--clients", "1"])
        .result(),
      /^kad: Cannot read image ".*secret\.img": permission denied\n$/,
    );
    // under a directory it cannot enter
    await Deno.chmod(golden, 0o700);
    assertRefusedBeforeListening(
      await new KadProcess(nobody, ["serve", join(golden, "etc"), "--clients", "1"]).result(),
      /^kad: Cannot serve ".*golden\/etc": permission denied\n$/,
    );
  },
});

/** A loop device over a file of `bytes` random bytes, detached (and the file removed) on dispose. */
async function loopDevice(dir: string, name: string, bytes: number) {
  const file = join(dir, name);
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(data.subarray(i, i + 65536));
  await Deno.writeFile(file, data);
  const out = await new Deno.Command("losetup", { args: ["--find", "--show", file], stdout: "piped" })
    .output();
  const device = new TextDecoder().decode(out.stdout).trim();
  return {
    device,
    file,
    data,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("losetup", { args: ["-d", device] }).output();
    },
  };
}

const canLoop = isRoot &&
  new Deno.Command("losetup", { args: ["--find"], stdout: "null", stderr: "null" }).outputSync().success;

Deno.test({
  name: "sources: a block device (a loop device) is served as an image and a node writes one with --out",
  ignore: !canLoop,
  fn: async () => {
    await using dir = await tempDir();
    await using source = await loopDevice(dir.path, "golden.img", 24 << 20);
    await using target = await loopDevice(dir.path, "target.img", 24 << 20);
    const server = new KadServer(variant, ["--image", source.device, "--clients", "1"]);
    const node = startJoin(variant, await server.port, null, ["--out", target.device]);
    const [n, { code, report }] = await Promise.all([node.result(), server.result()]);
    assertEquals([code, n.code], [0, 0], n.stderr);
    assertEquals(report!.bytes, 24 << 20);
    assert(
      Deno.readFileSync(target.file).every((b, i) => b === source.data[i]),
      "the target device holds the copy",
    );
  },
});
