/**
 * `kad serve --launch`: kad starts the nodes itself, through real OpenSSH, pdsh and ClusterShell,
 * against an sshd in each netlab host. The token never shows in a process's arguments. Needs root,
 * sshd, pdsh and clush (`.ci/run` installs them); each spec is skipped with the reason otherwise.
 */

import { canBuildNetlab, Netlab, type NetlabHost } from "../../lib/netlab/netlab.ts";
import { hasTool } from "../../lib/process/host_tool.ts";
import { assert, assertEquals, assertMatch } from "../_helpers/assert.ts";
import { inNamespace, KadServer, kadVariants, TEST_TOKEN } from "../_helpers/kad_cli.ts";
import { sshAvailable, SshLab } from "../_helpers/ssh_lab.ts";
import { tempDir } from "../_helpers/temp_dir.ts";

const root = canBuildNetlab();
const variant = kadVariants()[0];
if (!root || !sshAvailable()) {
  console.warn(
    "launch tests SKIPPED: they need root, iproute2 and openssh-server (apt-get install openssh-server)",
  );
}

/** `kad serve --bench SIZE` launching `kad join --null` with `tool` on `hosts`, started in the lab's first host. */
async function launchingServer(lab: Netlab, ssh: SshLab, tool: string, hosts: NetlabHost[], size: string) {
  const server = new KadServer(inNamespace(variant, lab.hosts[0].namespace), [
    "--bench",
    size,
    "--launch",
    tool,
    "--hosts",
    hosts.map((h) => h.address).join(","),
    "--join-args=--null",
    "--remote-kad",
    ssh.remoteKad,
    ...ssh.sshOptions.flatMap((o) => ["--ssh-option", o]),
  ], { listenHost: lab.hosts[0].address });
  await server.port.catch(async () => assert(false, await server.process.stderr));
  return server;
}

/** Every process's arguments, to look for the token in. */
async function allArguments(): Promise<string> {
  const out = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

for (const tool of ["ssh", "pdsh", "clush"] as const) {
  const installed = tool === "ssh" || hasTool(tool);
  Deno.test({
    name: `launch: --launch ${tool} starts kad join on 4 hosts with the token on stdin → all 4 verified`,
    ignore: !root || !sshAvailable() || !installed,
    fn: async () => {
      await using dir = await tempDir("kad-launch-");
      await using lab = await Netlab.create({ hosts: 5 });
      const hosts = lab.hosts.slice(1);
      await using ssh = await SshLab.start(lab, hosts, dir.path, variant);
      const server = await launchingServer(lab, ssh, tool, hosts, "100MB");
      let sawToken = false;
      while (!server.events.some((e) => e.event === "planned" || e.event === "done")) {
        sawToken ||= (await allArguments()).includes(TEST_TOKEN);
        await new Promise((r) => setTimeout(r, 100));
      }
      const { code, report, stderr } = await server.result();
      assertEquals(code, 0, stderr);
      assertEquals(report!.nodes.map((n) => n.name).sort(), hosts.map((h) => h.address).sort());
      assert(report!.nodes.every((n) => n.status === "ok"));
      assertEquals(sawToken, false, "the token never appears in a command line");
    },
  });
}

Deno.test({
  name: "launch: a host nobody answers on → named with ssh's own error; the others verified; exit 1",
  ignore: !root || !sshAvailable(),
  fn: async () => {
    await using dir = await tempDir("kad-launch-");
    await using lab = await Netlab.create({ hosts: 4 });
    const hosts = lab.hosts.slice(1);
    await using ssh = await SshLab.start(lab, hosts.slice(0, 2), dir.path, variant); // the third runs no sshd
    const server = await launchingServer(lab, ssh, "ssh", hosts, "20MB");
    const { code, report, stderr } = await server.result();
    assertEquals(code, 1, stderr);
    assertEquals(report!.nodes.length, 2);
    assert(report!.nodes.every((n) => n.status === "ok"));
    assertMatch(
      stderr,
      new RegExp(
        `kad: ${
          hosts[2].address.replaceAll(".", "\\.")
        } never joined: ssh exited with status 255: .*(refused|timed out)`,
      ),
    );
  },
});
