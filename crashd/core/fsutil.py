"""File-system primitives every stage needs, written once.

Crash evidence lives in directories an attacker may have planted things in, and
state must survive a power cut, so three operations recur: a durable write
(unique temporary name → fsync → rename → fsync the directory), reading a regular
file without following a symlink and with a size cap, and reading one small
kernel value (``/proc``, ``/sys``) that may be absent.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from crashd.core.errors import UnsafePathError

__all__ = ["fsync_dir", "read_regular", "read_regular_stat", "read_value", "write_durable"]

_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(directory: Path, name: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``directory/name`` atomically and durably.

    The temporary name is unique per call, so two processes writing the same file
    (the daemon and a hand-run ``crashd arm``) never write into one temporary file;
    the last rename wins whole.
    """
    tmp = directory / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, mode)  # the umask does not decide who reads evidence
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, directory / name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(directory)


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file; see :func:`read_regular_stat`."""
    return read_regular_stat(path, limit)[0]


def read_regular_stat(path: Path, limit: int) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file, refusing symlinks, FIFOs, devices and files over ``limit``.

    ``O_NONBLOCK`` keeps a FIFO planted under a trusted name from hanging the reader;
    the size is checked on the open descriptor and again while reading, so a file
    that grows (or ``/dev/zero`` behind a bind mount) cannot exhaust memory.
    Raises FileNotFoundError when absent, UnsafePathError when refused.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafePathError(path, "is a symlink; not followed") from exc
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(path, "is not a regular file")
        if st.st_size > limit:
            raise UnsafePathError(path, f"is {st.st_size} bytes, more than the {limit} allowed")
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - total) or 1):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise UnsafePathError(path, f"grew past the {limit} bytes allowed while being read")
        return b"".join(chunks), st
    finally:
        os.close(fd)


def read_value(path: Path) -> str | None:
    """One small kernel value, stripped; None when absent or unreadable (a missing feature, not an error)."""
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None
