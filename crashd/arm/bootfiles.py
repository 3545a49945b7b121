"""Find the capture kernel image, initrd and device tree for a kernel release.

The capture kernel reuses the running kernel's files by default, under the names
distributions install them (Debian ``vmlinuz-R``/``initrd.img-R``, Fedora
``initramfs-R.img``, arm64 ``Image-R``, armhf ``zImage-R``, and the
``/usr/lib/modules/R/vmlinuz`` layout). The image kind is read from the file's
own magic numbers, not guessed from its name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from crashd.core.paths import HostPaths
from crashd.core.settings import ArmConfig

__all__ = [
    "BootFiles",
    "INITRD_NAMES",
    "KERNEL_NAMES",
    "find_boot_files",
    "kernel_kind",
    "machine_arch",
    "running_release",
]

KERNEL_NAMES = ("boot/vmlinuz-{r}", "boot/Image-{r}", "boot/zImage-{r}", "boot/vmlinux-{r}",
                "boot/kernel-{r}", "usr/lib/modules/{r}/vmlinuz", "lib/modules/{r}/vmlinuz")
INITRD_NAMES = ("boot/initrd.img-{r}", "boot/initramfs-{r}.img", "boot/initrd-{r}.img", "boot/initrd-{r}",
                "usr/lib/modules/{r}/initrd", "lib/modules/{r}/initrd")


@dataclass(frozen=True)
class BootFiles:
    """The files a ``kexec -p`` load needs (host paths under the root)."""

    release: str
    kernel: Path | None
    initrd: Path | None
    dtb: Path | None
    kernel_kind: str  # bzImage | Image | zImage | vmlinux | unknown


def running_release(paths: HostPaths) -> str:
    """The running kernel release: ``/proc/sys/kernel/osrelease`` under the root."""
    try:
        return paths.osrelease.read_text().strip()
    except OSError:
        return os.uname().release


def machine_arch() -> str:
    """``uname -m`` of this machine."""
    return os.uname().machine


def kernel_kind(path: Path) -> str:
    """Identify a kernel image by its header magic."""
    try:
        with path.open("rb") as f:
            head = f.read(0x240)
    except OSError:
        return "unknown"
    if head[:4] == b"\x7fELF":
        return "vmlinux"
    if len(head) >= 0x206 and head[0x202:0x206] == b"HdrS":
        return "bzImage"
    if len(head) >= 0x3C and head[0x38:0x3C] == b"ARM\x64":
        return "Image"
    if len(head) >= 0x28 and int.from_bytes(head[0x24:0x28], "little") == 0x016F2818:
        return "zImage"
    return "unknown"


def _first_existing(paths: HostPaths, names: tuple[str, ...], release: str) -> Path | None:
    for pattern in names:
        candidate = paths.root / pattern.format(r=release)
        if candidate.is_file():
            return candidate
    return None


def _configured(paths: HostPaths, value: str, auto: Path | None) -> Path | None:
    if value == "auto":
        return auto
    if value == "none":
        return None
    return paths.host(value)


def find_boot_files(paths: HostPaths, arm: ArmConfig, release: str | None = None) -> BootFiles:
    """Resolve ``[arm] kernel/initrd/dtb`` (``auto``, ``none`` or a path)."""
    release = release or running_release(paths)
    kernel = _configured(paths, arm.kernel, _first_existing(paths, KERNEL_NAMES, release))
    initrd = _configured(paths, arm.initrd, _first_existing(paths, INITRD_NAMES, release))
    fdt = paths.sys("firmware", "fdt")
    dtb = _configured(paths, arm.dtb, fdt if fdt.exists() else None)
    kind = kernel_kind(kernel) if kernel is not None and kernel.is_file() else "unknown"
    return BootFiles(release, kernel, initrd, dtb, kind)
