"""Build fake host trees (``/proc``, ``/sys``, ``/boot`` …) under a tmp dir.

Scenarios are plain ``{host path: content}`` tables so each test states exactly
which files the machine has. The shapes come from a real Debian 12 guest booted
with ``crashkernel=256M`` (docs/vm-lab.md).
"""

from __future__ import annotations

import gzip
from pathlib import Path

from crashd.core.paths import HostPaths

RELEASE = "6.1.0-56-amd64"

GUEST_CMDLINE = f"BOOT_IMAGE=/boot/vmlinuz-{RELEASE} root=/dev/vda rw console=ttyS0 panic=5 crashkernel=256M quiet\n"

GUEST_IOMEM = """\
00000000-00000fff : Reserved
00001000-0009fbff : System RAM
0009fc00-0009ffff : Reserved
000a0000-000bffff : PCI Bus 0000:00
000f0000-000fffff : Reserved
  000f0000-000fffff : System ROM
00100000-3ffdffff : System RAM
  0b000000-1affffff : Crash kernel
  2c000000-2d001fff : Kernel code
  2d200000-2dc26fff : Kernel rodata
  2de00000-2e0d14ff : Kernel data
  2e5a2000-2e9fffff : Kernel bss
3ffe0000-3fffffff : Reserved
fd000000-fdffffff : PCI Bus 0000:00
feffc000-feffffff : Reserved
fffc0000-ffffffff : Reserved
"""

KERNEL_CONFIG = """\
CONFIG_KEXEC=y
CONFIG_KEXEC_FILE=y
CONFIG_CRASH_DUMP=y
CONFIG_PROC_VMCORE=y
CONFIG_RELOCATABLE=y
CONFIG_RANDOMIZE_BASE=y
CONFIG_PSTORE=y
CONFIG_PSTORE_RAM=m
"""


def armed_guest(release: str = RELEASE) -> dict[str, str | bytes]:
    """A Debian 12 x86_64 guest booted with crashkernel=256M, capture kernel loaded."""
    return {
        "/proc/cmdline": GUEST_CMDLINE,
        "/proc/iomem": GUEST_IOMEM,
        "/proc/sys/kernel/osrelease": release + "\n",
        "/proc/sys/kernel/random/boot_id": "0f5c3b5e-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
        "/proc/sys/kernel/kexec_load_disabled": "0\n",
        "/proc/sys/kernel/panic": "5\n",
        "/proc/sys/kernel/panic_on_oops": "1\n",
        "/proc/sys/kernel/panic_on_warn": "0\n",
        "/proc/sys/kernel/softlockup_panic": "0\n",
        "/proc/sys/kernel/hardlockup_panic": "0\n",
        "/proc/sys/kernel/hung_task_panic": "0\n",
        "/proc/self/mounts": "/dev/vda / ext4 rw,relatime 0 0\npstore /sys/fs/pstore pstore rw,nosuid,nodev,noexec,relatime 0 0\n",
        "/sys/kernel/kexec_crash_loaded": "1\n",
        "/sys/kernel/kexec_crash_size": str(256 << 20) + "\n",
        "/sys/kernel/security/lockdown": "[none] integrity confidentiality\n",
        "/sys/module/pstore/parameters/backend": "(null)\n",
        "/sys/module/kernel/parameters/crash_kexec_post_notifiers": "N\n",
        "/sys/fs/pstore/": "",
        "/sys/devices/system/cpu/crash_hotplug": "0\n",
        f"/boot/vmlinuz-{release}": b"\x00kernel image\x00",
        f"/boot/initrd.img-{release}": b"\x00initrd\x00",
        f"/boot/config-{release}": KERNEL_CONFIG,
        "/var/crash/": "",  # the default capture target (kdump-tools' package makes it)
    }


def unarmed_guest(release: str = RELEASE) -> dict[str, str | bytes]:
    files = armed_guest(release)
    files["/sys/kernel/kexec_crash_loaded"] = "0\n"
    return files


def dev_machine(release: str = "6.18.44-fc-v657") -> dict[str, str | bytes]:
    """A machine with no crashkernel reservation (like a CI container)."""
    files = armed_guest(release)
    files["/proc/cmdline"] = "console=ttyS0 root=/dev/vda rw\n"
    files["/proc/iomem"] = GUEST_IOMEM.replace("  0b000000-1affffff : Crash kernel\n", "")
    files["/sys/kernel/kexec_crash_loaded"] = "0\n"
    files["/sys/kernel/kexec_crash_size"] = "0\n"
    return files


def build_root(base: Path, files: dict[str, str | bytes | None]) -> HostPaths:
    """Write ``files`` under ``base``; a path ending in ``/`` makes a directory,
    ``None`` leaves the path absent (handy to delete from a preset)."""
    for host_path, content in files.items():
        if content is None:
            continue
        target = base / host_path.lstrip("/")
        if host_path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return HostPaths(base)


def gzip_config(text: str) -> bytes:
    """Content for ``/proc/config.gz``."""
    return gzip.compress(text.encode())
