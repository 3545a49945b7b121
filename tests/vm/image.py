"""Debian 12 guest disk images for the VM tests.

Two layers, so that a re-run only pays for what changed:

* the **base** root file system (everything except crashd): mmdebstrap, minbase + systemd +
  the kernel + crashd's runtime dependencies, initramfs rebuilt with ``MODULES=list``
  (vm-lab.md pitfall 3), serial getty masked (pitfall 2). Stored as a tarball under
  ``$CRASHD_VM_CACHE`` (default ``/var/cache/crashd-vm``) in a directory named by the
  architecture and a hash of every input (package list, hooks, the host's apt sources and
  options), so changing any of them rebuilds it and nothing else does. One base per guest
  architecture (amd64, armhf, arm64); the foreign ones are built under qemu-user.
* the **session** image: the base unpacked into a temporary tree, the freshly built crashd .deb
  installed inside it by apt, the test driver (``guest/``) copied in, then a raw ext4 image made
  with ``mkfs.ext4 -d`` (no loop mount, no privileges beyond owning the files).

Each scenario works on a sparse copy of the session image; files are put in and taken out with
``debugfs`` so that nothing has to be mounted.

Run as a script to build (or reuse) the base and print where it is:
``python3 -m tests.vm.image [--arch armhf] [--deb crashd.deb --out DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
GUEST_FILES = HERE / "guest"

SUITE = "bookworm"


@dataclass(frozen=True)
class Arch:
    """What differs between the guest architectures, from the base image to the QEMU machine."""

    name: str  # Debian architecture (mmdebstrap --arch)
    kernel_package: str
    initrd_modules: tuple[str, ...]  # the disk driver stack the initramfs needs to find /
    console: str


# On QEMU's -M virt the disk is virtio-mmio (virtio-blk-device), on -M pc it is virtio-pci.
ARCHES = {
    "amd64": Arch("amd64", "linux-image-amd64", ("virtio_pci", "virtio_blk", "ext4"), "ttyS0"),
    "armhf": Arch("armhf", "linux-image-armmp", ("virtio_mmio", "virtio_blk", "ext4"), "ttyAMA0"),
    "arm64": Arch("arm64", "linux-image-arm64", ("virtio_mmio", "virtio_blk", "ext4"), "ttyAMA0"),
}

# Everything the guest needs except crashd itself and the kernel (Arch.kernel_package). crashd's
# runtime dependencies are here so that installing the .deb later needs no network.
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "udev",
    "kmod",
    "dbus",
    "initramfs-tools",
    "kexec-tools",
    "makedumpfile",
    "e2fsprogs",
    "procps",
    "python3",
    "python3-zstandard",
    "python3-lzo",
)

# The two-guest off-host scenario (test_remote): one image for the dump server (Debian's sshd
# and NFS server) and the crashing client (ssh, mount.nfs), so that one base serves both.
REMOTE_PACKAGES = (*BASE_PACKAGES, "openssh-server", "openssh-client", "nfs-kernel-server", "iproute2")


def initramfs_hook(arch: Arch) -> str:
    """An essential hook: the initramfs module list, written before the kernel package is
    configured so that its postinst builds the initrd once, and small.

    pitfall 3: MODULES=dep fails in a chroot; the default MODULES=most makes a 25 MB initrd
    (13.5 min under qemu-user on armhf) that does not fit a small crashkernel reservation.
    """
    modules = "\\n".join(arch.initrd_modules)
    return (
        'mkdir -p "$1/etc/initramfs-tools/conf.d"; '
        'printf "MODULES=list\\n" > "$1/etc/initramfs-tools/conf.d/crashd-vm"; '
        f'printf "{modules}\\n" > "$1/etc/initramfs-tools/modules"'
    )


# Only what makes the image bootable under QEMU and quiet on the serial console. Written as
# shell because mmdebstrap runs hooks through sh with the root directory as "$1".
CUSTOMIZE = r"""
set -e
root="$1"
echo crashd-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 crashd-vm\n' > "$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$root/etc/fstab"
# A fixed machine id: the persistent journal of every boot (normal and capture) lands in one
# directory, which journalctl reads without --merge.
echo 5c1b0d9f3e2a4c6b8d7e9f0a1b2c3d4e > "$root/etc/machine-id"
mkdir -p "$root/var/log/journal"
# pitfall 2: a getty on the serial console swallows service output written to it.
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyAMA0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
  ln -sf /dev/null "$root/etc/systemd/system/$t"
done
passwd --root "$root" -d root
"""


def _log(msg: str) -> None:
    print(f"[vm-image] {msg}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    return Path(os.environ.get("CRASHD_VM_CACHE", "/var/cache/crashd-vm"))


def host_apt_sources(etc_apt: Path = Path("/etc/apt")) -> list[Path]:
    """The host's enabled apt source files, in apt's order (sources.list, then sources.list.d
    by name). mmdebstrap pastes each given file into the guest's sources, so the guest uses the
    host's mirrors (a local mirror, a snapshot, a proxying cache) and no host name is written here.
    """
    files = [etc_apt / "sources.list"] if (etc_apt / "sources.list").is_file() else []
    parts = etc_apt / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources") and p.is_file())
    found = [p for p in files if p.read_text(errors="replace").strip()]
    if not found:
        raise RuntimeError(f"no apt sources under {etc_apt}: the VM images are built from the host's apt sources")
    return found


# Host apt settings that decide whether a download works at all: a proxy, and a snapshot
# mirror's expired Release files. mmdebstrap runs apt with its own configuration, not the host's.
_HOST_APT_OPTION = re.compile(r'^Acquire::((https?|ftp)::Proxy(::\S+)?|Check-Valid-Until|Check-Date) ')


def host_apt_options(dump: str | None = None) -> list[str]:
    """``apt-config dump`` lines of the host for :data:`_HOST_APT_OPTION`, as ``--aptopt`` values."""
    if dump is None:
        dump = subprocess.run(["apt-config", "dump"], check=True, capture_output=True, text=True).stdout
    return [line for line in dump.splitlines() if _HOST_APT_OPTION.match(line)]


def late_install(packages: tuple[str, ...]) -> str:
    """A customize hook that installs ``packages`` after the kernel and its initrd are set up.

    kdump-tools hooks the kernel's postinst to build its own initrd with MODULES=dep, which
    fails in a chroot (pitfall 3) and so fails the whole mmdebstrap; installed afterwards, no
    kernel postinst runs, and kdump-tools builds that initrd at its first boot, as on a real
    machine.
    """
    names = " ".join(packages)
    return (
        'chroot "$1" env DEBIAN_FRONTEND=noninteractive '
        f"apt-get install -y -q --no-install-recommends {names}"
    )


def base_packages(arch: Arch, packages: tuple[str, ...] = BASE_PACKAGES) -> tuple[str, ...]:
    return (*packages, arch.kernel_package)


def base_key(
    arch: Arch,
    packages: tuple[str, ...] = BASE_PACKAGES,
    late: tuple[str, ...] = (),
    *,
    sources: tuple[str, ...] | None = None,
    apt_options: tuple[str, ...] | None = None,
) -> str:
    """Hash of everything that shapes the base: suite, architecture, packages, hooks, and the
    host's apt sources and options (their content: a new mirror or snapshot rebuilds it).

    Not the whole of this file: editing the session layer must not rebuild the base.
    """
    if sources is None:
        sources = tuple(p.read_text(errors="replace") for p in host_apt_sources())
    if apt_options is None:
        apt_options = tuple(host_apt_options())
    h = hashlib.sha256()
    parts = (SUITE, arch.name, *sorted(base_packages(arch, packages)), initramfs_hook(arch), CUSTOMIZE,
             *sources, *apt_options)
    for part in parts:
        h.update(part.encode() + b"\0")
    if late:
        h.update(late_install(late).encode() + b"\0")
    return h.hexdigest()[:16]


def _run(argv: list[str], **kw: object) -> None:
    subprocess.run(argv, check=True, **kw)  # type: ignore[call-overload]


def build_base(
    packages: tuple[str, ...] = BASE_PACKAGES,
    *,
    arch: Arch = ARCHES["amd64"],
    late: tuple[str, ...] = (),
    force: bool = False,
) -> Path:
    """Return the cached base rootfs tarball of ``arch``, building it with mmdebstrap when missing.

    ``late``: packages installed after the customize script (see :func:`late_install`). A
    foreign ``arch`` runs its maintainer scripts under qemu-user (binfmt_misc, tests/run).
    """
    out_dir = cache_root() / f"{arch.name}-{base_key(arch, packages, late)}"
    tarball = out_dir / "base.tar"
    if tarball.is_file() and not force:
        _log(f"base image cached: {tarball}")
        return tarball
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / "base.tar.partial"
    start = time.monotonic()
    pkgs = base_packages(arch, packages)
    _log(f"building the {arch.name} base image with mmdebstrap ({len(pkgs)} packages); takes a few minutes")
    argv = [
        "mmdebstrap",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        f"--architectures={arch.name}",
        "--include=" + ",".join(pkgs),
        *(f"--aptopt={opt}" for opt in host_apt_options()),
        "--essential-hook=" + initramfs_hook(arch),
        "--customize-hook=" + CUSTOMIZE,
        *(["--customize-hook=" + late_install(late)] if late else []),
        SUITE,
        str(partial),
        *(str(p) for p in host_apt_sources()),
    ]
    _run(argv)
    os.replace(partial, tarball)
    _log(f"{arch.name} base image built in {time.monotonic() - start:.0f} s: {tarball}")
    return tarball


@dataclass(frozen=True)
class GuestImage:
    """A bootable raw disk image and the kernel/initrd QEMU boots it with."""

    disk: Path
    kernel: Path
    initrd: Path
    release: str
    arch: Arch = ARCHES["amd64"]

    def copy(self, dest: Path) -> GuestImage:
        """A sparse copy for one scenario (kernel and initrd are read-only, so shared)."""
        _run(["cp", "--sparse=always", str(self.disk), str(dest)])
        return GuestImage(dest, self.kernel, self.initrd, self.release, self.arch)


def _install_deb(tree: Path, deb: Path) -> None:
    """Install the .deb inside the tree with apt, as a user would (dependencies are present)."""
    target = tree / "tmp" / "crashd.deb"
    shutil.copyfile(deb, target)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["chroot", str(tree), "apt-get", "install", "-y", "-q", "/tmp/crashd.deb"]
    res = subprocess.run(install, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        # A dependency the base does not hold (the .deb's list changed): fetch it from the
        # host's apt sources, as a user's apt would, rather than fail the whole session.
        _log(f"crashd.deb needs packages the base lacks; apt-get update in the guest tree:\n{res.stdout[-1500:]}")
        _run(["chroot", str(tree), "apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        _run(install, env=env, stdout=subprocess.DEVNULL)
    target.unlink()


def _install_driver(tree: Path) -> None:
    """The test driver: a unit that runs after multi-user.target and follows /etc/crashd-vmtest."""
    unit = tree / "etc/systemd/system/crashd-vmtest.service"
    shutil.copyfile(GUEST_FILES / "crashd-vmtest.service", unit)
    script = tree / "usr/local/sbin/crashd-vmtest"
    shutil.copyfile(GUEST_FILES / "crashd-vmtest", script)
    script.chmod(0o755)
    wants = tree / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    link = wants / "crashd-vmtest.service"
    if not link.is_symlink():
        link.symlink_to("/etc/systemd/system/crashd-vmtest.service")
    (tree / "etc/crashd-vmtest").mkdir(exist_ok=True)
    (tree / "var/lib/crashd-vmtest").mkdir(parents=True, exist_ok=True)


def build_image(out: Path, deb: Path | None, *, size: str = "3G", base: Path | None = None,
                arch: Arch = ARCHES["amd64"]) -> GuestImage:
    """Unpack the base, install crashd (when ``deb`` is given) and the driver, make ``out/disk.img``."""
    base = base or build_base(arch=arch)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crashd-vm-tree-", dir=out) as tmp:
        tree = Path(tmp) / "root"
        tree.mkdir()
        _run(["tar", "-C", str(tree), "--numeric-owner", "-xpf", str(base)])
        if deb is not None:
            _install_deb(tree, deb)
        _install_driver(tree)
        kernels = sorted((tree / "boot").glob("vmlinuz-*"))
        if not kernels:
            raise RuntimeError(f"no kernel in {base}")
        kernel_src = kernels[-1]
        release = kernel_src.name.removeprefix("vmlinuz-")
        kernel = out / kernel_src.name
        initrd = out / f"initrd.img-{release}"
        shutil.copyfile(kernel_src, kernel)
        shutil.copyfile(tree / "boot" / initrd.name, initrd)
        disk = out / "disk.img"
        disk.unlink(missing_ok=True)
        _run(["mkfs.ext4", "-q", "-F", "-L", "crashd-vm", "-d", str(tree), str(disk), size])
    _log(f"session image ready in {time.monotonic() - start:.0f} s: {disk} ({release})")
    return GuestImage(disk, kernel, initrd, release, arch)


def debugfs(disk: Path, request: str, *, write: bool = False) -> str:
    argv = ["debugfs", *(["-w"] if write else []), "-R", request, str(disk)]
    res = subprocess.run(argv, check=True, capture_output=True, text=True)
    return res.stdout


def put_files(disk: Path, files: Mapping[str, str | bytes]) -> None:
    """Write files (root-owned) into the unmounted image, creating parent directories."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, (path, content) in enumerate(files.items()):
            local = Path(tmp) / str(i)
            local.write_bytes(content.encode() if isinstance(content, str) else content)
            parents = list(reversed(Path(path).parents))[1:]  # without "/"
            requests = [f"mkdir {p}" for p in parents] + [f"rm {path}", f"write {local} {path}"]
            script = Path(tmp) / f"{i}.cmds"
            script.write_text("\n".join(requests) + "\n")
            # debugfs reports "already exists" / "not found" and goes on; the stat below is the check.
            subprocess.run(["debugfs", "-w", "-f", str(script), str(disk)], check=True, capture_output=True)
            res = subprocess.run(["debugfs", "-R", f"stat {path}", str(disk)], capture_output=True, text=True)
            if "Inode:" not in res.stdout:
                raise RuntimeError(f"could not write {path} into {disk}: {res.stderr.strip()}")


def put_symlinks(disk: Path, links: Mapping[str, str]) -> None:
    """Make symlinks ``path -> target`` in the unmounted image (what ``systemctl enable`` makes)."""
    with tempfile.TemporaryDirectory() as tmp:
        requests = []
        for path, target in links.items():
            requests += [f"mkdir {p}" for p in list(reversed(Path(path).parents))[1:]]
            requests += [f"rm {path}", f"symlink {path} {target}"]
        script = Path(tmp) / "links.cmds"
        script.write_text("\n".join(requests) + "\n")
        subprocess.run(["debugfs", "-w", "-f", str(script), str(disk)], check=True, capture_output=True)
    for path, target in links.items():
        res = subprocess.run(["debugfs", "-R", f"stat {path}", str(disk)], capture_output=True, text=True)
        if "Type: symlink" not in res.stdout:
            raise RuntimeError(f"could not make the symlink {path} -> {target} in {disk}: {res.stderr.strip()}")


def set_modes(disk: Path, modes: Mapping[str, int]) -> None:
    """chmod inside the unmounted image (``put_files`` writes 0644 files, 0755 directories)."""
    for path, mode in modes.items():
        res = subprocess.run(["debugfs", "-R", f"stat {path}", str(disk)], capture_output=True, text=True)
        m = re.search(r"Mode:\s+(\d+)", res.stdout)
        kind = re.search(r"Type: (\w+)", res.stdout)
        if not m or not kind:
            raise RuntimeError(f"{path} is not in {disk}")
        type_bits = {"regular": 0o100000, "directory": 0o040000}[kind.group(1)]
        debugfs(disk, f"sif {path} mode 0{type_bits | mode:o}", write=True)


def read_file(disk: Path, path: str) -> str | None:
    """The text of ``path`` in the image, or None when it does not exist."""
    res = subprocess.run(["debugfs", "-R", f"cat {path}", str(disk)], capture_output=True)
    if b"File not found" in res.stderr:
        return None
    return res.stdout.decode(errors="replace")


def read_tree(disk: Path, path: str, dest: Path) -> Path:
    """Copy directory ``path`` out of the image into ``dest``; returns ``dest/<basename>``."""
    dest.mkdir(parents=True, exist_ok=True)
    debugfs(disk, f"rdump {path} {dest}")
    return dest / Path(path).name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deb", type=Path, help="crashd .deb to install (default: base image only)")
    parser.add_argument("--out", type=Path, help="make a session image in this directory")
    parser.add_argument("--force", action="store_true", help="rebuild the base even when cached")
    parser.add_argument("--arch", choices=sorted(ARCHES), default="amd64", help="guest architecture")
    args = parser.parse_args(argv)
    arch = ARCHES[args.arch]
    base = build_base(arch=arch, force=args.force)
    print(base)
    if args.out:
        img = build_image(args.out, args.deb, base=base, arch=arch)
        print(img.disk, img.kernel, img.initrd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
