/**
 * A small bootable system to clone in the netboot end-to-end test, from Debian packages: the
 * kernel with an initramfs that mounts `root=UUID=…` and switches to it, busybox, an /sbin/init
 * that says on the console who it is and from where it booted and powers off, and extlinux (with
 * its mbr.bin, its C library and a configuration the deploy's boot loader step points at the new
 * root file system).
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
for tries in $(seq 1 100); do DEV=$(findfs "$ROOT" 2>/dev/null) && break; sleep 0.1; done
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

/** Writes the system into `root` (an empty directory); packages come through `cacheDir`. */
export async function writeBootableSystem(root: string, cacheDir: string): Promise<void> {
  const kernelPackage = await defaultKernelPackage();
  const debs = await downloadPackages(["busybox-static", "extlinux", kernelPackage], cacheDir);
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

    const dirs = [
      "bin",
      "sbin",
      "boot/extlinux",
      "etc/systemd/network",
      "proc",
      "sys",
      "dev",
      "tmp",
      "usr/bin",
    ];
    for (const dir of dirs) {
      await Deno.mkdir(join(root, dir), { recursive: true });
    }
    await Deno.copyFile(busybox, join(root, "bin/busybox"));
    for (const applet of ["sh", "cat", "grep", "cut", "mount", "sync", "poweroff", "echo", "ls", "mkdir"]) {
      await Deno.symlink("busybox", join(root, "bin", applet));
    }
    await Deno.writeTextFile(join(root, "sbin/init"), CLONE_INIT, { mode: 0o755 });
    await Deno.chmod(join(root, "sbin/init"), 0o755);
    await Deno.copyFile(join(kernelRoot, "boot", `vmlinuz-${selection.version}`), join(root, "boot/vmlinuz"));
    await writeInitramfs(initramfs.entries(), join(root, "boot/initrd.img"));
    await Deno.writeTextFile(join(root, "boot/extlinux/extlinux.conf"), EXTLINUX_CONF);
    // extlinux runs in a chroot of the clone: the program, its boot code and its C library
    const extlinux = roots.get("extlinux")!;
    await Deno.copyFile(join(extlinux, "usr/bin/extlinux"), join(root, "usr/bin/extlinux"));
    await Deno.chmod(join(root, "usr/bin/extlinux"), 0o755);
    await Deno.mkdir(join(root, "usr/lib/EXTLINUX"), { recursive: true });
    for (const code of ["mbr.bin", "gptmbr.bin"]) {
      await Deno.copyFile(join(extlinux, "usr/lib/EXTLINUX", code), join(root, "usr/lib/EXTLINUX", code));
    }
    for (const library of await sharedLibraries([join(extlinux, "usr/bin/extlinux")], [])) {
      await Deno.mkdir(join(root, dirname(library)), { recursive: true });
      await Deno.copyFile(library, join(root, library));
    }
    await Deno.writeTextFile(join(root, "etc/hostname"), "golden\n");
    await Deno.writeTextFile(join(root, "etc/hosts"), "127.0.0.1 localhost\n");
    await Deno.writeTextFile(join(root, "etc/motd"), "cloned by kad\n");
  } finally {
    await Deno.remove(staging, { recursive: true });
  }
}
