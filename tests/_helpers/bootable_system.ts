/**
 * A small bootable system to clone in the netboot end-to-end test, from Debian packages: the
 * kernel with an initramfs that mounts `root=UUID=…` and switches to it, busybox, an /sbin/init
 * that says on the console who it is and from where it booted and powers off, and a boot loader:
 * extlinux (with its mbr.bin and a configuration the deploy's boot loader step points at the new
 * root file system) or grub (grub-install and update-grub, run by that step), with their libraries.
 */

import { dirname, join } from "node:path";
import { defaultKernelPackage, downloadPackages, unpackPackages } from "../../netboot/debian_packages.ts";
import {
  InitramfsFiles,
  moduleNames,
  sharedLibraries,
  writeInitramfs,
} from "../../netboot/initramfs_files.ts";
import { selectModules } from "../../netboot/kernel_modules.ts";
import { runTool } from "../../lib/process/host_tool.ts";

/** What the clone's /sbin/init prints first on its console. */
export const CLONE_BANNER = "kad-e2e-clone:";

const CLONE_INITRAMFS_INIT = String.raw`#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /etc/modules); do modprobe -q "$module"; done
ROOT=$(sed -n 's/.*[[:space:]]root=\([^[:space:]]*\).*/\1/p' /proc/cmdline)
DEV=""
for tries in $(seq 1 100); do
  case "$ROOT" in
    /dev/*) [ -b "$ROOT" ] && DEV=$ROOT && break ;;
    *) DEV=$(findfs "$ROOT" 2>/dev/null) && break ;;
  esac
  sleep 0.1
done
[ -n "$DEV" ] || { echo "clone initramfs: $ROOT not found"; poweroff -f; }
mount -t ext4 -o ro "$DEV" /newroot || { echo "clone initramfs: cannot mount $DEV"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
`;

const CLONE_INIT = String.raw`#!/bin/sh
mount -t proc proc /proc
echo "kad-e2e-clone: $(cat /etc/hostname) booted from disk: root $(grep ' / ' /proc/mounts | cut -d' ' -f1), $(grep -o 'root=[^ ]*' /proc/cmdline)"
echo "kad-e2e-clone: hook said $(cat /etc/kad-hook)"
sync
poweroff -f
`;

const EXTLINUX_CONF = `DEFAULT clone
PROMPT 0
TIMEOUT 0
LABEL clone
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND root=UUID=00000000-0000-0000-0000-000000000000 ro console=ttyS0 panic=-1
`;

/** The boot loader the clone is prepared for: its files, configuration and programs. */
export type CloneBootLoader = "extlinux" | "grub";

const GRUB_PACKAGES = ["grub-pc-bin", "grub-common", "grub2-common", "libefiboot1", "libefivar1"];

const GRUB_DEFAULTS = `GRUB_DEFAULT=0
GRUB_TIMEOUT=0
GRUB_DISTRIBUTOR=kad-e2e
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0 panic=-1"
GRUB_DISABLE_OS_PROBER=true
`;

/**
 * Writes the system into `root` (an empty directory), ready for `bootLoader`; packages come
 * through `cacheDir`. With grub, grub-install and update-grub (grub-mkconfig run by busybox sh)
 * must work in a chroot of the clone, as they do in a Debian system.
 */
export async function writeBootableSystem(
  root: string,
  cacheDir: string,
  bootLoader: CloneBootLoader = "extlinux",
): Promise<void> {
  const kernelPackage = await defaultKernelPackage();
  const loaderPackages = bootLoader === "grub" ? GRUB_PACKAGES : ["extlinux"];
  const debs = await downloadPackages(["busybox-static", kernelPackage, ...loaderPackages], cacheDir);
  const staging = await Deno.makeTempDir({ prefix: "kad-golden-" });
  try {
    const roots = await unpackPackages(debs, staging);
    const busybox = join(roots.get("busybox-static")!, "bin/busybox");
    const kernelRoot = roots.get(kernelPackage)!;
    const selection = await selectModules(join(kernelRoot, "lib/modules"), [
      "virtio_pci",
      "virtio_blk",
      "ext4",
      "crc32c_generic",
    ]);

    const initramfs = new InitramfsFiles();
    initramfs.dirs("proc", "sys", "dev", "newroot", "sbin");
    initramfs.add({ kind: "char", path: "dev/console", major: 5, minor: 1 });
    await initramfs.addProgram("bin/busybox", busybox);
    initramfs.add({ kind: "symlink", path: "sbin/modprobe", target: "/bin/busybox" });
    await initramfs.addModules(kernelRoot, selection);
    initramfs.addText("etc/modules", moduleNames(selection).join("\n") + "\n");
    initramfs.addText("init", CLONE_INITRAMFS_INIT, 0o755);

    for (
      const dir of ["bin", "sbin", "boot", "etc/systemd/network", "proc", "sys", "dev", "tmp", "usr/bin"]
    ) {
      await Deno.mkdir(join(root, dir), { recursive: true });
    }
    // busybox and every applet, as the clone's shell and tools
    await Deno.copyFile(busybox, join(root, "bin/busybox"));
    await Deno.chmod(join(root, "bin/busybox"), 0o755);
    const applets = (await runTool(busybox, ["--list"], "busybox --list")).split("\n").filter((a) =>
      a && a !== "busybox"
    );
    for (const applet of applets) await Deno.symlink("busybox", join(root, "bin", applet));
    await Deno.writeTextFile(join(root, "sbin/init"), CLONE_INIT, { mode: 0o755 });
    await Deno.chmod(join(root, "sbin/init"), 0o755);

    const programs: string[] = [];
    if (bootLoader === "extlinux") {
      await Deno.copyFile(
        join(kernelRoot, "boot", `vmlinuz-${selection.version}`),
        join(root, "boot/vmlinuz"),
      );
      await writeInitramfs(initramfs.entries(), join(root, "boot/initrd.img"));
      await Deno.mkdir(join(root, "boot/extlinux"));
      await Deno.writeTextFile(join(root, "boot/extlinux/extlinux.conf"), EXTLINUX_CONF);
      // extlinux runs in a chroot of the clone: the program and its boot code
      const extlinux = roots.get("extlinux")!;
      await Deno.copyFile(join(extlinux, "usr/bin/extlinux"), join(root, "usr/bin/extlinux"));
      await Deno.chmod(join(root, "usr/bin/extlinux"), 0o755);
      await Deno.mkdir(join(root, "usr/lib/EXTLINUX"), { recursive: true });
      for (const code of ["mbr.bin", "gptmbr.bin"]) {
        await Deno.copyFile(join(extlinux, "usr/lib/EXTLINUX", code), join(root, "usr/lib/EXTLINUX", code));
      }
      programs.push(join(extlinux, "usr/bin/extlinux"));
    } else {
      // the names update-grub looks for
      const version = selection.version;
      await Deno.copyFile(
        join(kernelRoot, "boot", `vmlinuz-${version}`),
        join(root, `boot/vmlinuz-${version}`),
      );
      await writeInitramfs(initramfs.entries(), join(root, `boot/initrd.img-${version}`));
      for (const pkg of GRUB_PACKAGES) {
        await runTool("cp", ["-a", `${roots.get(pkg)}/.`, root], `install ${pkg}`);
      }
      await Deno.mkdir(join(root, "etc/default"), { recursive: true });
      await Deno.writeTextFile(join(root, "etc/default/grub"), GRUB_DEFAULTS);
      for (
        const tool of ["usr/sbin/grub-probe", "usr/bin/grub-mkimage", "usr/lib/grub/i386-pc/grub-bios-setup"]
      ) {
        programs.push(join(root, tool));
      }
      programs.push(join(root, "usr/bin/grub-editenv"), join(root, "usr/bin/grub-mkrelpath"));
      programs.push(join(root, "usr/sbin/grub-install"));
    }
    // their C library and the rest, where the host has them (the package's own are in place)
    const packageLibs = [join(root, "lib/x86_64-linux-gnu"), join(root, "usr/lib/x86_64-linux-gnu")];
    for (const library of await sharedLibraries(programs, packageLibs)) {
      if (library.startsWith(root + "/")) continue;
      await Deno.mkdir(join(root, dirname(library)), { recursive: true });
      await Deno.copyFile(library, join(root, library)).catch(() => {});
    }
    await Deno.writeTextFile(join(root, "etc/hostname"), "golden\n");
    await Deno.writeTextFile(join(root, "etc/hosts"), "127.0.0.1 localhost\n");
    await Deno.writeTextFile(join(root, "etc/motd"), "cloned by kad\n");
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}
