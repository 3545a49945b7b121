"""crashd's native vmcore reader: ELF, kdump-compressed and flattened dumps, no vmlinux needed.

``open_dump(path)`` gives a :class:`~crashd.vmcore.dump.Dump`; ``dmesg_of(path)`` is the
forgiving one-call helper the capture kernel uses. Heavy pieces (codecs, kdump support)
are imported only when a dump needs them.
"""

from __future__ import annotations

import os

from crashd.core.errors import VmcoreError
from crashd.vmcore.dump import Dump
from crashd.vmcore.record import LogRecord

__all__ = ["Dump", "LogRecord", "VmcoreError", "dmesg_of", "open_dump"]


def open_dump(path: str | os.PathLike[str], *, nofollow: bool = False) -> Dump:
    """Open a vmcore of any supported format (detected by content).

    ``nofollow``: refuse a symlink (for files found inside crash-record directories).
    """
    return Dump(path, nofollow=nofollow)


def dmesg_of(path: str | os.PathLike[str], style: str = "vmcore-dmesg") -> tuple[str, list[str]]:
    """The kernel log text and warnings; recovers what it can instead of raising.

    Raises :class:`VmcoreError` only when the file cannot be opened as a dump at all.
    """
    with open_dump(path) as dump:
        try:
            text = dump.dmesg_text(style)
        except VmcoreError as exc:
            return "", [*dump.warnings, f"dmesg unavailable: {exc}"]
        return text, list(dump.warnings)
