"""The crash record store (/var/lib/crash): layout, durable writes, lookup.

A record is ``<YYYYmmddTHHMMSS>-<kind>-<id8>/`` (mode 0700, files 0600) holding
``metadata.json``, ``dmesg.txt``, the dump, ``pstore/`` and ``capture.json``.
Records are built in a hidden staging directory (``.<key>.incomplete``) whose
name depends only on the record's sources, so an ingest killed half-way is
resumed by the next one, and published by one rename. Dumps hold the machine's
memory: nothing here follows a symlink, and a symlink planted in the store or
a spool directory is refused with an error naming it.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashd.core.errors import CrashdError, NotFoundError, UnsafePathError
from crashd.core.fsutil import fsync_dir
from crashd.core.paths import HostPaths
from crashd.ingest.schema import FileEntry

__all__ = [
    "Checkpoint",
    "RECORD_NAME",
    "Record",
    "STAGING_SUFFIX",
    "Staging",
    "StoreFullError",
    "TMP_SUFFIX",
    "check_not_symlink",
    "ensure_dir",
    "list_records",
    "open_source",
    "read_metadata",
    "record_size",
    "remove_record",
    "resolve_record",
    "sha256_file",
    "store_dir",
    "sweep_removals",
]

RECORD_NAME = re.compile(r"^(?P<stamp>\d{8}T\d{6})-(?P<kind>kdump\+pstore|kdump|pstore|unclean-reset)-(?P<id>[0-9a-f]{8})$")
STAGING_SUFFIX = ".incomplete"
TMP_SUFFIX = ".incomplete"
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 4 << 20

Checkpoint = Callable[[str], None]


def _no_checkpoint(_step: str) -> None:
    """Production: nothing; tests pass a hook that kills the process at one step."""


class StoreFullError(CrashdError):
    """The store's file system ran out of space; nothing already there was lost."""

    def __init__(self, path: Path, needed: int | None = None, free: int | None = None):
        self.path = path
        self.needed = needed
        self.free = free
        detail = f": need {needed} bytes, {free} free" if needed is not None else ""
        super().__init__(f"{path}: no space left for the crash record{detail}; pstore left untouched")


def check_not_symlink(path: Path) -> os.stat_result:
    """lstat ``path`` and refuse a symlink (the error names it)."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(path, "is a symlink; refusing to follow it")
    return st


def ensure_dir(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` (and parents) or accept it if it is a real directory; tighten its mode."""
    try:
        st = check_not_symlink(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        st = check_not_symlink(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "is not a directory")
    if stat.S_IMODE(st.st_mode) != mode:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _OPEN_FLAGS)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def open_source(path: Path) -> int:
    """Open a file to read, refusing symlinks and anything but regular files."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(path, "is a symlink; refusing to follow it") from exc
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(path, "is not a regular file")
    return fd


def sha256_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file (not following symlinks).

    Holes (a sparse ELF dump is mostly holes) are hashed from a zero buffer
    found with SEEK_DATA/SEEK_HOLE instead of being read: same digest, and a
    multi-GiB dump no longer costs a read of every zero page."""
    fd = open_source(path)
    h = hashlib.sha256()
    zeros = memoryview(bytes(_CHUNK))
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: only a hole is left
                    raise
                data = size
            while pos < data:
                n = min(_CHUNK, data - pos)
                h.update(zeros[:n])
                pos += n
            if pos >= size:
                break
            hole = os.lseek(fd, pos, os.SEEK_HOLE)
            while pos < hole:
                chunk = os.pread(fd, min(_CHUNK, hole - pos), pos)
                if not chunk:  # the file shrank under us
                    hole = size = pos
                    break
                h.update(chunk)
                pos += len(chunk)
    finally:
        os.close(fd)
    return pos, h.hexdigest()


def _data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of each data extent of an open file; the whole file where the
    file system cannot tell (no SEEK_DATA)."""
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                return
            if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
                yield pos, size
                return
            raise
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
        yield data, hole
        pos = hole


def _private(path: Path) -> None:
    """A moved-in file keeps its old mode: make it 0600 (never through a symlink)."""
    fd = open_source(path)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _space_error(exc: OSError, path: Path) -> CrashdError | OSError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFullError(path)
    return exc


class Staging:
    """A record being built: ``<store>/.<key>.incomplete/``, resumable."""

    def __init__(self, store: Path, key: str, checkpoint: Checkpoint = _no_checkpoint):
        self.store = store
        self.path = store / f".{key}{STAGING_SUFFIX}"
        self.checkpoint = checkpoint
        self.left_behind: list[Path] = []  # sources a read-only spool kept (stored all the same)
        ensure_dir(self.path)
        for dirpath, _dirs, filenames in os.walk(self.path):  # leftovers of a killed write
            for fn in filenames:
                if fn.endswith(TMP_SUFFIX):
                    sub = Path(dirpath) / fn
                    check_not_symlink(sub)
                    sub.unlink()

    def has(self, name: str) -> bool:
        try:
            st = check_not_symlink(self.path / name)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode)

    def _parent(self, name: str) -> Path:
        parent = (self.path / name).parent
        for level in reversed(parent.relative_to(self.path).parents[:-1] if parent != self.path else []):
            ensure_dir(self.path / level)  # each level 0700, whatever the umask
        if parent != self.path:
            ensure_dir(parent)
        return parent

    def _write_from(self, name: str, write: Callable[[int], None]) -> None:
        """The one durable write: ``name.incomplete`` → write → fsync → rename → fsync dir."""
        parent = self._parent(name)
        final = self.path / name
        # Not name + suffix: a 255-byte pstore name leaves no room for one (NAME_MAX).
        tmp = final.with_name(f".{hashlib.sha256(os.fsencode(final.name)).hexdigest()[:16]}{TMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600)
            try:
                write(fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            self.checkpoint(f"writing {name}")
            os.rename(tmp, final)
            fsync_dir(parent)
        except OSError as exc:
            raise _space_error(exc, final) from exc
        self.checkpoint(f"wrote {name}")

    def write_bytes(self, name: str, data: bytes) -> None:
        def write(fd: int) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

        self._write_from(name, write)

    def write_json(self, name: str, obj: Mapping[str, object]) -> None:
        self.write_bytes(name, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    def copy_file(self, src: Path, name: str) -> None:
        """Durable copy of a regular file (never through a symlink); holes stay holes.

        A dump is mostly holes (a 256 MiB ELF dump may hold 4 KiB of data): only the
        extents SEEK_DATA/SEEK_HOLE report are copied, so a copy across file systems
        allocates what the original did, not its size."""
        sfd = open_source(src)

        def write(fd: int) -> None:
            size = os.fstat(sfd).st_size
            for start, end in _data_extents(sfd, size):
                pos = start
                while pos < end:
                    chunk = os.pread(sfd, min(_CHUNK, end - pos), pos)
                    if not chunk:  # the source shrank under us
                        break
                    done = 0
                    while done < len(chunk):
                        done += os.pwrite(fd, chunk[done:], pos + done)
                    pos += len(chunk)
            os.ftruncate(fd, size)

        try:
            self._write_from(name, write)
        finally:
            os.close(sfd)

    def move_file(self, src: Path, name: str) -> None:
        """Move a dump in: rename on the same file system, else copy + fsync + remove.

        Resumable: if ``name`` is already here, a previous run got that far and
        only the source (if still present) is left to remove."""
        if not self.has(name):
            check_not_symlink(src)
            self._parent(name)
            try:
                os.rename(src, self.path / name)
                _private(self.path / name)
                fsync_dir(self.path)
                fsync_dir(src.parent)
                self.checkpoint(f"moved {name}")
                return
            except OSError as exc:
                # EXDEV: another file system; EROFS/EACCES/EPERM: a read-only spool, which
                # must not keep the dump from being stored (the copy stays behind).
                if exc.errno not in (errno.EXDEV, errno.EROFS, errno.EACCES, errno.EPERM):
                    raise _space_error(exc, self.path / name) from exc
            self.copy_file(src, name)
        try:
            check_not_symlink(src)
        except FileNotFoundError:
            return
        try:
            src.unlink()
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            self.left_behind.append(src)
            return
        fsync_dir(src.parent)
        self.checkpoint(f"removed source of {name}")

    def files(self) -> dict[str, FileEntry]:
        """``{relative name: {size, sha256}}`` of everything written so far."""
        out: dict[str, FileEntry] = {}
        for dirpath, dirnames, filenames in os.walk(self.path):
            for fn in filenames:
                p = Path(dirpath) / fn
                rel = str(p.relative_to(self.path))
                if rel == "metadata.json" or fn.endswith(TMP_SUFFIX):
                    continue
                size, digest = sha256_file(p)
                out[rel] = {"sha256": digest, "size": size}
            dirnames.sort()
        return dict(sorted(out.items()))

    def publish(self, final_name: str) -> Path:
        """Rename the staging directory to its record name (one atomic step)."""
        final = self.store / final_name
        if os.path.lexists(final):
            raise CrashdError(f"{final}: a record of that name already exists")
        fsync_dir(self.path)
        os.rename(self.path, final)
        fsync_dir(self.store)
        self.checkpoint(f"published {final_name}")
        return final


@dataclass
class Record:
    """One published crash record."""

    name: str
    path: Path
    metadata: dict[str, Any] | None  # None: unreadable metadata.json

    @property
    def stamp(self) -> str:
        return self.name[:15]


def store_dir(paths: HostPaths) -> Path:
    """The store, refusing a symlink in its place."""
    store = paths.crash_store
    try:
        check_not_symlink(store)
    except FileNotFoundError:
        pass
    return store


def read_metadata(path: Path) -> dict[str, Any]:
    """A record's ``metadata.json`` (read without following symlinks)."""
    fd = open_source(path / "metadata.json")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = json.loads(fh.read().decode())
        except ValueError as exc:  # includes UnicodeDecodeError
            raise CrashdError(f"{path / 'metadata.json'}: unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise CrashdError(f"{path / 'metadata.json'}: not a JSON object")
    return data


def list_records(paths: HostPaths) -> list[Record]:
    """Published records, oldest first (record names sort by crash time)."""
    store = store_dir(paths)
    try:
        names = sorted(os.listdir(store))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if not RECORD_NAME.match(name):
            continue
        path = store / name
        check_not_symlink(path)
        try:
            meta: dict[str, Any] | None = read_metadata(path)
        except (OSError, ValueError, CrashdError):
            meta = None
        out.append(Record(name, path, meta))
    return out


def resolve_record(paths: HostPaths, ident: str) -> Path:
    """A record by name or unique prefix; NotFoundError when unknown or ambiguous."""
    store = store_dir(paths)
    ident = ident.rstrip("/")
    try:
        names = sorted(n for n in os.listdir(store) if RECORD_NAME.match(n))
    except FileNotFoundError:
        names = []
    if ident in names:
        matches = [ident]
    else:
        matches = [n for n in names if ident and n.startswith(ident)]
    if not matches:
        raise NotFoundError(f"no crash record matches {ident!r} in {store}")
    if len(matches) > 1:
        raise NotFoundError(f"{ident!r} is ambiguous: matches {', '.join(matches)}")
    path = store / matches[0]
    check_not_symlink(path)
    return path


def record_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, filenames in os.walk(path):
        for fn in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, fn)).st_size
            except FileNotFoundError:
                continue
    return total


def remove_record(path: Path) -> None:
    """Remove a record: hide it by a rename first so a half-removed record never lists."""
    check_not_symlink(path)
    hidden = path.with_name(f".{path.name}.removing")
    os.rename(path, hidden)
    fsync_dir(path.parent)
    shutil.rmtree(hidden)


def sweep_removals(store: Path) -> None:
    """Finish removals a killed process left behind."""
    try:
        names = os.listdir(store)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(".") and name.endswith(".removing"):
            path = store / name
            check_not_symlink(path)
            shutil.rmtree(path)
