"""Physical-memory access shared by every container format, and its failure kinds.

A dump is read only with positioned reads (``os.pread``): ``/proc/vmcore`` in a capture
kernel with a few tens of MiB of RAM can be far bigger than memory. The four failure
kinds of formats.md §1.5 are distinct types so callers can say *why* a page is missing;
an excluded (filtered) page is never read back as zeros.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Protocol

from crashd.core.errors import VmcoreError

__all__ = [
    "MemoryError_",
    "NotInDump",
    "NotMapped",
    "PageExcluded",
    "PageIncomplete",
    "PhysMemory",
    "Source",
    "UnsupportedCompression",
]


class MemoryError_(VmcoreError):
    """Base of the 'this address cannot be read' errors (carries the address)."""

    kind = "unreadable"

    def __init__(self, address: int, detail: str = ""):
        self.address = address
        super().__init__(f"{self.kind} at {address:#x}" + (f" ({detail})" if detail else ""))


class NotInDump(MemoryError_):
    """No part of the dump covers the address (hole, crashkernel area, truncated file)."""

    kind = "not in dump"


class PageExcluded(MemoryError_):
    """The page existed but was filtered out by makedumpfile."""

    kind = "page excluded"


class PageIncomplete(MemoryError_):
    """makedumpfile ran out of space before writing this page."""

    kind = "page not written (incomplete dump)"


class NotMapped(MemoryError_):
    """The page tables say the virtual address is not mapped."""

    kind = "not mapped"


class UnsupportedCompression(VmcoreError):
    """A page is compressed with a codec whose Python library is not installed."""

    PACKAGES = {"lzo": "python-lzo (Debian: python3-lzo)", "snappy": "cramjam or python-snappy (Debian: python3-snappy)", "zstd": "zstandard (Debian: python3-zstandard)"}

    def __init__(self, codec: str):
        self.codec = codec
        pkg = self.PACKAGES.get(codec, codec)
        super().__init__(f"pages are {codec}-compressed; install the Python package {pkg} to read them")


class Source:
    """A file read only by offset (``pread``); never loaded whole."""

    def __init__(self, path: str | os.PathLike[str], *, nofollow: bool = False):
        self.path = os.fspath(path)
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a planted FIFO must not hang us
        if nofollow:
            flags |= os.O_NOFOLLOW
        try:
            self.fd = os.open(self.path, flags)
        except OSError as exc:
            why = "is a symlink (not followed)" if nofollow and exc.errno == errno.ELOOP else exc.strerror
            raise VmcoreError(f"{self.path}: {why}") from exc
        try:
            st = os.fstat(self.fd)
        except OSError as exc:
            os.close(self.fd)
            raise VmcoreError(f"{self.path}: {exc.strerror}") from exc
        if not stat.S_ISREG(st.st_mode):
            os.close(self.fd)
            raise VmcoreError(f"{self.path}: not a regular file")
        self.size = st.st_size

    def pread(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset``; short at end of file (corrupt offsets read nothing)."""
        if size <= 0 or offset < 0 or offset >= self.size:
            return b""
        try:
            return os.pread(self.fd, min(size, self.size - offset), offset)
        except OSError as exc:
            raise VmcoreError(f"{self.path}: read at {offset:#x}: {exc.strerror}") from exc

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class PhysMemory(Protocol):
    """What translation and the log readers need from a container."""

    def read_phys(self, pa: int, size: int) -> bytes:
        """Exactly ``size`` bytes at physical ``pa`` or one of the errors above."""
        ...
