"""The capture directory on the target: created private, filled, then published.

Where (the ingest side relies on it): every capture directory lives in the spool
directory ``<target>/crashd/`` (:data:`SPOOL_DIR`), never in the target itself. On
systems with apport, ``/var/crash`` is world-writable and sticky, so anything a
local user can put there is not evidence. The spool directory is created by root,
mode 0700; a pre-existing one that is a symlink, not a directory, not owned by
root (``geteuid()``, so tests run unprivileged) or group/world-writable is refused:
it is renamed aside to ``crashd.refused-<stamp>`` and named in capture.json's
errors, and a fresh one is made, so a squatter cannot stop the kernel log from
being saved. Readers check the same with :func:`check_private_dir`.

Life cycle:

1. ``<YYYYmmddTHHMMSS>-<bootid8>.incomplete/`` is created with mode 0700.
2. Files are created inside it exclusively (``O_EXCL``), never through a symlink
   (``O_NOFOLLOW`` relative to the directory's own descriptor), mode 0600.
3. :meth:`Spool.publish` fsyncs every file and the directory, renames it to
   ``<YYYYmmddTHHMMSS>-<bootid8>`` and fsyncs the parent.

A directory without ``.incomplete`` therefore always holds a fully written
``capture.json``; whether the *dump* is whole is what ``capture.json``'s
``complete`` says. A crash or a kill at any point leaves at worst a
``….incomplete`` directory, which ingest reports as an interrupted capture.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import stat
from pathlib import Path
from typing import NotRequired, TypedDict

from crashd.core.errors import CrashdError, UnsafePathError

__all__ = [
    "CaptureInfo",
    "CaptureMemory",
    "CAPTURE_JSON",
    "DMESG_FILE",
    "ELF_DUMP",
    "INCOMPLETE",
    "KDUMP_DUMP",
    "NAME_RE",
    "REFUSED_PREFIX",
    "SPOOL_DIR",
    "Spool",
    "check_private_dir",
    "ensure_spool_dir",
    "spool_path",
    "stamp",
]

INCOMPLETE = ".incomplete"
# The spool contract, shared with ingest (the one import across stages the layout allows).
NAME_RE = re.compile(r"^(?P<stamp>\d{8}T\d{6})-(?P<boot>[0-9a-f]{8}|unknown0)(?P<incomplete>\.incomplete)?$")
DMESG_FILE = "dmesg.txt"
ELF_DUMP = "vmcore"
KDUMP_DUMP = "vmcore.kdump"
CAPTURE_JSON = "capture.json"
SPOOL_DIR = "crashd"  # <target>/crashd/: the only place captures are written and read
REFUSED_PREFIX = SPOOL_DIR + ".refused-"  # an unsafe spool directory, moved aside



class CaptureMemory(TypedDict):
    """``capture.json`` ``memory``: what the save cost in the capture kernel (bytes; None: unreadable).
    Measured by :mod:`crashd.capture.memstat`."""

    mem_total: int | None  # the capture kernel's MemTotal
    mem_available_start: int | None  # MemAvailable when the save started
    mem_available_min: int | None  # the lowest MemAvailable seen while saving
    crashd_peak_rss: int  # crashd save's own peak RSS (VmHWM)
    collector_peak_rss: int  # the largest peak RSS of a child (makedumpfile)


class CaptureInfo(TypedDict):
    """``capture.json``, schema 1: what one capture did. Written last, so its presence
    in a published directory means every other file is whole; ``complete`` says
    whether the *dump* is."""

    schema: int
    collector: str  # "makedumpfile", "copy" or "dmesg-only"
    dump_level: int | None
    compression: str | None
    dump_file: str | None  # vmcore or vmcore.kdump, when one was kept
    dmesg: bool  # dmesg.txt was saved
    bytes_written: int
    estimated_size: int | None
    seconds: float
    started: str  # ISO 8601, UTC
    finished: str | None
    crashed_boot_id: str | None  # 32 hex digits, from crashd.boot_id= on the capture command line
    test_id: str | None  # 16 hex digits, from crashd.test_id= (a `crashd test --crash`), else None
    kernel_release: str | None
    # Which machine crashed (crashd.core.hostinfo): a dump server or a journal collector holds
    # captures of many; None when the machine does not say (never invented).
    hostname: NotRequired[str | None]
    machine_id: NotRequired[str | None]  # /etc/machine-id, 32 hex digits
    complete: bool
    errors: list[str]
    steps: list[str]
    # Where the dump lives when it was saved off the host (ssh://USER@HOST/PATH/crashd/<name>/vmcore.flat);
    # only present for a remote capture. Never holds credentials.
    remote_location: NotRequired[str]
    # What the save cost in memory (written by every capture since it was added; absent in older ones).
    memory: NotRequired[CaptureMemory]


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def spool_path(target: Path) -> Path:
    """The spool directory of a capture target (a directory or a mount point)."""
    return target / SPOOL_DIR


def check_private_dir(fd: int, path: Path, euid: int | None = None) -> None:
    """Raise :class:`UnsafePathError` unless ``fd`` (opened with ``O_NOFOLLOW``) is a
    directory owned by ``euid`` (default: ours) that no group or other can write."""
    st = os.fstat(fd)
    owner = os.geteuid() if euid is None else euid
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "is not a directory")
    if st.st_uid != owner:
        raise UnsafePathError(path, f"is owned by uid {st.st_uid}, not {owner}")
    if st.st_mode & 0o022:
        raise UnsafePathError(path, f"is group or world writable (mode {stat.S_IMODE(st.st_mode):04o})")


def ensure_spool_dir(target: Path, moment: dt.datetime, euid: int | None = None) -> tuple[Path, str | None]:
    """``<target>/crashd``, private and ours: ``(path, refusal)``, where ``refusal``
    names a pre-existing unsafe one that was moved aside (None if there was none).

    Raises OSError or :class:`UnsafePathError` when no safe one can be had.
    """
    path = spool_path(target)
    refusal: str | None = None
    parent_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for _attempt in range(2):
            try:
                os.mkdir(SPOOL_DIR, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                pass
            try:
                fd = os.open(SPOOL_DIR, _DIR_FLAGS, dir_fd=parent_fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                problem = UnsafePathError(path, "is a symlink" if exc.errno == errno.ELOOP else "is not a directory")
            else:
                try:
                    check_private_dir(fd, path, euid)
                    os.fchmod(fd, 0o700)  # mkdir's mode is cut by the umask; 0755 becomes 0700
                    return path, refusal
                except UnsafePathError as exc:
                    problem = exc
                finally:
                    os.close(fd)
            if refusal is not None:
                raise problem
            aside = _move_aside(parent_fd, moment)
            refusal = f"refused spool directory {problem}; moved aside to {aside}"
        raise UnsafePathError(path, "could not be made private")
    finally:
        os.close(parent_fd)


def _move_aside(parent_fd: int, moment: dt.datetime) -> str:
    """Rename an unsafe ``crashd`` entry (renaming never follows a symlink) to a
    free ``crashd.refused-<stamp>[.N]`` name; its contents are kept, untrusted."""
    base = REFUSED_PREFIX + stamp(moment)
    for n in range(100):
        name = base if n == 0 else f"{base}.{n}"
        try:
            os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            continue
        except FileNotFoundError:
            pass
        os.rename(SPOOL_DIR, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        return name
    raise UnsafePathError(SPOOL_DIR, "no free name to move it aside")


def stamp(moment: dt.datetime) -> str:
    """UTC ``YYYYmmddTHHMMSS`` of the capture start."""
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S")


class Spool:
    """One capture directory, held open by descriptor so a rename of the
    target cannot redirect our writes."""

    def __init__(self, parent: Path, parent_fd: int, name: str, fd: int):
        self.parent = parent
        self.parent_fd = parent_fd
        self.name = name
        self.fd = fd
        self.published = False
        self.files: list[str] = []

    # ------------------------------------------------------------ creation
    @classmethod
    def create(cls, target: Path, start: dt.datetime, bootid8: str) -> Spool:
        """Make ``<stamp>-<bootid8>.incomplete`` in ``target``.

        If a capture of the same boot already used this second (``crashd save`` run
        twice), the stamp moves forward a second rather than mixing two captures.
        """
        parent_fd = os.open(target, _DIR_FLAGS)
        try:
            for extra in range(120):
                base = f"{stamp(start + dt.timedelta(seconds=extra))}-{bootid8}"
                if _exists(parent_fd, base):
                    continue
                try:
                    os.mkdir(base + INCOMPLETE, 0o700, dir_fd=parent_fd)
                except FileExistsError:
                    continue
                fd = os.open(base + INCOMPLETE, _DIR_FLAGS, dir_fd=parent_fd)
                os.fchmod(fd, 0o700)  # mkdir's mode is cut by the umask
                return cls(target, parent_fd, base, fd)
            raise CrashdError(f"{target}: no free capture directory name for {bootid8}")
        except BaseException:
            os.close(parent_fd)
            raise

    @property
    def path(self) -> Path:
        return self.parent / (self.name if self.published else self.name + INCOMPLETE)

    # ------------------------------------------------------------ files
    def open_new(self, name: str) -> int:
        """A new file in the directory, write-only, 0600, never pre-existing."""
        fd = os.open(name, _NEW_FILE, 0o600, dir_fd=self.fd)
        os.fchmod(fd, 0o600)
        self.files.append(name)
        return fd

    def write_file(self, name: str, data: bytes) -> int:
        """Write a small file whole and fsync it."""
        fd = self.open_new(name)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        return len(data)

    def adopt(self, name: str) -> int:
        """Take over a file an external tool wrote (makedumpfile): refuse symlinks
        and non-regular files, make it 0600, fsync it. Returns its size."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePathError(self.path / name, "is a symlink") from exc
            raise
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePathError(self.path / name, "is not a regular file")
            os.fchmod(fd, 0o600)
            os.fsync(fd)
        finally:
            os.close(fd)
        if name not in self.files:
            self.files.append(name)
        return st.st_size

    def size_of(self, name: str) -> int | None:
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False).st_size
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        """Delete a file of *this* capture (a partial dump before a retry)."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass
        if name in self.files:
            self.files.remove(name)

    def free_path(self, name: str) -> Path:
        """Path for an external tool to create ``name`` (it must not exist yet)."""
        return self.path / name

    # ------------------------------------------------------------ publication
    def publish(self) -> Path:
        """fsync files and directory, drop ``.incomplete``, fsync the parent."""
        for name in list(self.files):
            if self.size_of(name) is not None:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.fd)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        os.fsync(self.fd)
        os.rename(self.name + INCOMPLETE, self.name, src_dir_fd=self.parent_fd, dst_dir_fd=self.parent_fd)
        self.published = True
        os.fsync(self.parent_fd)
        return self.path

    def close(self) -> None:
        for fd in (self.fd, self.parent_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.fd = self.parent_fd = -1


def _exists(dir_fd: int, name: str) -> bool:
    for candidate in (name, name + INCOMPLETE):
        try:
            os.stat(candidate, dir_fd=dir_fd, follow_symlinks=False)
            return True
        except FileNotFoundError:
            continue
    return False
