"""A private /proc/kallsyms with ``_text`` for one kexec_load on arm64.

kexec-tools 2.0.25 loads an arm64 crash kernel with kexec_load only after reading ``_text``
from /proc/kallsyms (``get_page_offset()`` picks the kernel's linear-map base from it).
Debian 12's arm64 kernel has no CONFIG_KEXEC_FILE, so kexec_load is the only way, and lists no
``_text``: without CONFIG_KALLSYMS_ALL kallsyms keeps only symbols from ``_stext`` on, and
``_text`` (the start of ``.head.text``) lies before it.

The missing address is known exactly. arch/arm64/kernel/vmlinux.lds.S puts ``_text`` at the
start of the image (``.head.text``, far smaller than 64 KiB) and ``.text``, where ``_stext``
is, at the next ``SEGMENT_ALIGN`` (64 KiB, arch/arm64/include/asm/memory.h) boundary; the
image itself is placed 64 KiB-aligned (2 MiB with KASLR). So ``_text = _stext - 64 KiB``,
checked against the kernel's own System.map in the VM test.

crashd hands kexec a copy of kallsyms with that line added, seen by the kexec process alone:
``python3 -m crashd.arm.kallsyms_shim COPY TARGET -- kexec ARGS...`` enters a new mount
namespace, makes every mount in it private (nothing propagates back to the host), bind-mounts
COPY over TARGET (``/proc/kallsyms``), then execs kexec in its place. The namespace ends with
that process; crashd's daemon and everything else keep the kernel's own file. No shell.
Python 3.11 (Debian 12) has no ``os.unshare``, hence libc through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["SEGMENT_ALIGN", "LibcMounts", "Mounts", "main", "text_address", "with_text"]

SEGMENT_ALIGN = 0x10000  # arm64 SZ_64K, 6.1's arch/arm64/include/asm/memory.h
_SYMBOL = re.compile(r"^([0-9a-fA-F]+) ([A-Za-z]) (\S+)$", re.MULTILINE)

CLONE_NEWNS = 0x00020000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

EXIT_USAGE = 2
EXIT_SETUP = 126  # as a shell says "found but cannot run": nothing of kexec ran


def _address(kallsyms: str, name: str) -> int | None:
    for m in _SYMBOL.finditer(kallsyms):
        if m.group(3) == name and m.group(2) in "tT":
            return int(m.group(1), 16)
    return None


def text_address(kallsyms: str) -> int | None:
    """``_text`` derived from ``_stext``; None when it cannot be derived safely.

    None when ``_text`` is already listed (nothing to fix), when ``_stext`` is missing or reads
    0 (kptr_restrict hides addresses from this reader), or when ``_stext`` is not on a 64 KiB
    boundary (a layout other than the one this rule was checked against).
    """
    if _address(kallsyms, "_text") is not None:
        return None
    stext = _address(kallsyms, "_stext")
    if not stext or stext % SEGMENT_ALIGN or stext < SEGMENT_ALIGN:
        return None
    return stext - SEGMENT_ALIGN


def with_text(kallsyms: str) -> str | None:
    """``kallsyms`` with a ``_text`` line before the first line, as the kernel sorts by address;
    None when :func:`text_address` is None."""
    text = text_address(kallsyms)
    if text is None:
        return None
    width = len(kallsyms.split(" ", 1)[0]) or 16
    return f"{text:0{width}x} T _text\n{kallsyms}"


class Mounts(Protocol):
    """The three system calls the shim makes (a fake in the tests)."""

    def unshare_mount_namespace(self) -> None: ...
    def make_private(self, path: str) -> None: ...
    def bind(self, source: str, target: str) -> None: ...


class LibcMounts:
    """unshare(2) and mount(2) through libc; errors raise OSError with errno."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def unshare_mount_namespace(self) -> None:
        self._check(self.libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")

    def make_private(self, path: str) -> None:
        rc = self.libc.mount(None, path.encode(), None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None)
        self._check(rc, f"mount --make-rprivate {path}")

    def bind(self, source: str, target: str) -> None:
        rc = self.libc.mount(source.encode(), target.encode(), None, ctypes.c_ulong(MS_BIND), None)
        self._check(rc, f"mount --bind {source} {target}")


def _regular_root_file(path: str) -> str | None:
    """Why ``path`` must not be bound (a symlink, not a regular file, not root's), or None."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not a regular file"
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return f"{path}: not owned by us, or writable by others"
    return None


def main(
    argv: Sequence[str] | None = None,
    mounts: Mounts | None = None,
    execvp: Callable[[str, list[str]], object] = os.execvp,
) -> int:
    """``COPY TARGET -- PROGRAM ARGS...``; returns only on failure (the exec replaces us)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 4 or args[2] != "--":
        print("usage: python3 -m crashd.arm.kallsyms_shim COPY TARGET -- PROGRAM [ARGS...]", file=sys.stderr)
        return EXIT_USAGE
    copy, target, program = args[0], args[1], args[3:]
    problem = _regular_root_file(copy)
    if problem is not None:
        print(f"kallsyms_shim: {problem}", file=sys.stderr)
        return EXIT_SETUP
    try:
        ns = mounts if mounts is not None else LibcMounts()
        ns.unshare_mount_namespace()
        ns.make_private("/")
        ns.bind(copy, target)
    except OSError as exc:
        print(f"kallsyms_shim: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SETUP
    try:
        execvp(program[0], program)
    except OSError as exc:
        print(f"kallsyms_shim: cannot run {program[0]}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_SETUP
    return 0  # only a fake execvp returns


if __name__ == "__main__":
    sys.exit(main())
