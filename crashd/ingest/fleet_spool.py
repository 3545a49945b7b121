"""A dump server's spool: captures of many machines, listed and recorded per host.

Machines with ``[capture] target = ssh://USER@SERVER/PATH`` (or ``nfs://``) leave
``PATH/crashd/<stamp>-<bootid8>/`` on the server — ``dmesg.txt``, the dump
(``vmcore.flat`` over ssh), ``capture.json`` naming the machine (``hostname``,
``machine_id``) — the contract of :mod:`crashd.capture.spool`. On the server,
``crashd list --spool DIR`` reads them in place and ``crashd ingest --spool DIR
--store STORE`` makes one crash record per capture under ``STORE/<host>/``. The
server's own ``/var/lib/crash`` is never touched: STORE must be named.

Trust. The spool is written by the fleet through one account (root, or the ssh
user of the targets), so what counts is what *that* account wrote: the spool
directory must be a real directory (not a symlink) that no group or other may
write, and an entry is read only when it is a real directory owned by the
spool's owner, writable by nobody else, holding no symlink and nothing owned by
anyone else. capture.json must be a JSON object of at most
:data:`MAX_CAPTURE_JSON` bytes; dmesg.txt at most :data:`MAX_DMESG`. Anything
else — a symlink, a squatter's directory, a FIFO, an oversized or garbled
capture.json — is skipped with one line naming it and why, and every other entry
is still read: one bad entry never blocks the rest. A directory still named
``….incomplete`` is being written (or was cut short) and is reported, not read.

Records leave the spool as it is: the dump stays on the server where the
crashed machine's own record points (``sources.vmcore.location``), and the
record holds metadata.json, dmesg.txt and capture.json. A ledger
(``STORE/<host>/.ledger/``) keyed by the capture's name *and* content makes a
second run add only what is new.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashd.capture.spool import CAPTURE_JSON, DMESG_FILE, NAME_RE, SPOOL_DIR
from crashd.core.errors import CrashdError, UnsafePathError
from crashd.core.fsutil import fsync_dir, read_regular
from crashd.core.hostinfo import clean_hostname, clean_machine_id
from crashd.crashlog.summary import CrashSummary, summarize
from crashd.ingest.compose import compose
from crashd.ingest.fleet_journal import FleetCrash, FleetView
from crashd.ingest.matching import Plan
from crashd.ingest.printable import printable
from crashd.ingest.sources import Capture, analyse, remote_location
from crashd.ingest.store import Staging, ensure_dir

__all__ = [
    "MAX_CAPTURE_JSON",
    "MAX_DMESG",
    "SpoolEntry",
    "SpoolIngest",
    "SpoolScan",
    "host_dir_name",
    "ingest_spool",
    "scan_spool",
    "spool_view",
]

MAX_CAPTURE_JSON = 1 << 20  # a real capture.json is a few KiB
MAX_DMESG = 64 << 20  # the kernel log ring is at most a few MiB
_LEDGER = ".ledger"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class SpoolEntry:
    """One published capture on the server, checked and read."""

    path: Path
    name: str
    info: dict[str, Any]
    hostname: str | None
    machine_id: str | None
    dmesg: str | None
    summary: CrashSummary | None
    dump: str | None  # the dump's file name in the entry (vmcore, vmcore.kdump, vmcore.flat)
    digest: str

    @property
    def host_label(self) -> str:
        return host_dir_name(self.hostname, self.machine_id)

    @property
    def mark(self) -> str:
        return f"spool-{self.name}-{self.digest}"


@dataclass
class SpoolScan:
    directory: Path
    owner: int  # the uid whose entries count
    entries: list[SpoolEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<path>: <why>", one per refused entry
    pending: list[str] = field(default_factory=list)  # "….incomplete" entries, not read


def host_dir_name(hostname: str | None, machine_id: str | None) -> str:
    """A host's directory under STORE: its hostname (already checked safe), else its
    machine id, else ``unknown-host``."""
    if hostname:
        return hostname
    return f"machine-{machine_id}" if machine_id else "unknown-host"


def _spool_dirs(directory: Path) -> list[Path]:
    """DIR itself, and DIR/crashd when DIR is a target PATH rather than its spool."""
    sub = directory / SPOOL_DIR
    try:
        if stat.S_ISDIR(os.lstat(sub).st_mode):
            return [sub, directory]
    except FileNotFoundError:
        pass
    return [directory]


def _check_spool(path: Path) -> os.stat_result:
    if os.path.islink(path):
        raise UnsafePathError(path, "is a symlink; not followed (give the directory it points to)")
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePathError(path, "is a symlink; not followed") from exc
        if exc.errno == errno.ENOTDIR:
            raise UnsafePathError(path, "is not a directory") from exc
        raise
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_mode & 0o022:
        raise UnsafePathError(path, f"is group or world writable (mode {stat.S_IMODE(st.st_mode):04o}): "
                                    "anyone could plant captures in it; not read")
    return st


def scan_spool(directory: Path) -> SpoolScan:
    """Every capture in the spool ``directory`` that passes the checks (see the module
    docstring); the others are named in ``skipped``. Raises only when the spool itself
    cannot be used (missing, a symlink, writable by others)."""
    st = _check_spool(directory)
    scan = SpoolScan(directory, st.st_uid)
    for where in _spool_dirs(directory):
        if where != directory:
            try:
                sub = _check_spool(where)
            except (OSError, CrashdError) as exc:
                scan.skipped.append(_line(where, exc))
                continue
            if sub.st_uid != scan.owner:
                scan.skipped.append(f"{where}: owned by uid {sub.st_uid}, not {scan.owner} (the spool's owner); not read")
                continue
        for name in sorted(os.listdir(where)):
            m = NAME_RE.match(name)
            if not m:
                continue
            path = where / name
            if m["incomplete"]:
                scan.pending.append(f"{path}: still being written, or the capture was cut short; not read")
                continue
            try:
                scan.entries.append(_read_entry(path, name, scan.owner))
            except (OSError, CrashdError, ValueError) as exc:
                scan.skipped.append(_line(path, exc))
    scan.entries.sort(key=lambda e: (e.host_label, e.name))
    return scan


def _line(path: Path, exc: BaseException) -> str:
    if isinstance(exc, UnsafePathError):
        text = f"{exc.path}: {exc.reason}"
    elif isinstance(exc, OSError):
        text = f"{exc.filename or path}: {exc.strerror or exc}"
    else:
        text = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
    return printable(text, 4096)


def _read_entry(path: Path, name: str, owner: int) -> SpoolEntry:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(path, "is a symlink; not followed")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "is not a directory")
    if st.st_uid != owner:
        raise UnsafePathError(path, f"is owned by uid {st.st_uid}, not {owner} (the spool's owner): "
                                    "not a capture the fleet wrote")
    if st.st_mode & 0o022:
        raise UnsafePathError(path, "is group/world-writable: not a capture the fleet wrote")
    dumps = []
    for entry in sorted(os.listdir(path)):
        est = os.lstat(path / entry)
        if stat.S_ISLNK(est.st_mode):
            raise UnsafePathError(path / entry, "is a symlink; the capture is not read")
        if est.st_uid != owner:
            raise UnsafePathError(path / entry, f"is owned by uid {est.st_uid}, not {owner}; the capture is not read")
        if (entry in (CAPTURE_JSON, DMESG_FILE) or entry.startswith("vmcore")) and not stat.S_ISREG(est.st_mode):
            raise UnsafePathError(path / entry, "is not a regular file; the capture is not read")
        if entry.startswith("vmcore"):
            dumps.append(entry)
    try:
        raw = read_regular(path / CAPTURE_JSON, MAX_CAPTURE_JSON)
    except FileNotFoundError:
        raise UnsafePathError(path, "has no capture.json: not a published capture") from None
    try:
        info = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnsafePathError(path / CAPTURE_JSON, f"is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(info, dict):
        raise UnsafePathError(path / CAPTURE_JSON, "is not a JSON object")
    if info.get("schema") != 1:
        raise UnsafePathError(path / CAPTURE_JSON, f"has schema {printable(str(info.get('schema')), 32)}, not 1")
    try:
        dmesg_raw: bytes | None = read_regular(path / DMESG_FILE, MAX_DMESG)
    except FileNotFoundError:
        dmesg_raw = None
    dmesg = dmesg_raw.decode("utf-8", "replace") if dmesg_raw else None
    main = info.get("dump_file")
    dump = main if isinstance(main, str) and main in dumps else (dumps[0] if dumps else None)
    h = hashlib.sha256()
    for data in (raw, dmesg_raw or b""):  # as crashd.ingest.sources digests a capture
        h.update(hashlib.sha256(data).digest())
    return SpoolEntry(
        path=path, name=name, info=info,
        hostname=clean_hostname(info.get("hostname")), machine_id=clean_machine_id(info.get("machine_id")),
        dmesg=dmesg, summary=summarize(dmesg) if dmesg else None, dump=dump, digest=h.hexdigest()[:16],
    )


def _stamp_iso(name: str) -> str | None:
    try:
        return dt.datetime.strptime(name[:15], "%Y%m%dT%H%M%S").strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def spool_view(scan: SpoolScan) -> FleetView:
    """The spool as the fleet view ``crashd list`` prints (one crash per capture)."""
    view = FleetView()
    for e in scan.entries:
        s = e.summary
        release = e.info.get("kernel_release")
        view.crashes.append(FleetCrash(
            host=e.hostname, machine_id=e.machine_id, record=e.name,
            signature=s.signature if s else None,
            kernel=printable(release if isinstance(release, str) else (s.release if s else None), 128) or None,
            kind="kdump", panic=printable(s.message, 1024) or None if s else None,
            panic_kind=s.kind if s and s.message else None,
            crash_time=_stamp_iso(e.name), logged_at=None,
            complete=e.info.get("complete") is True and e.dump is not None,
            location=str(e.path / e.dump) if e.dump else None,
        ))
    view.crashes.sort(key=lambda c: (c.time, c.host or "", c.record))
    view.problems = [*scan.skipped, *scan.pending]
    view.skipped = len(scan.skipped)
    return view


# ------------------------------------------------------------------ records
@dataclass
class SpoolIngest:
    created: list[str] = field(default_factory=list)  # "<host>/<record>"
    known: int = 0  # captures already recorded by an earlier run
    problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _locked(store: Path) -> Iterator[None]:
    fd = os.open(store / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ingest_spool(scan: SpoolScan, store: Path, now: float | None = None) -> SpoolIngest:
    """One record per capture of ``scan`` under ``store/<host>/``; each entry on its own
    (one that fails is a problem, the others go on)."""
    result = SpoolIngest(problems=[*scan.skipped])
    ensure_dir(store)
    when = time.time() if now is None else now
    with _locked(store):
        for entry in scan.entries:
            host_store = store / entry.host_label
            try:
                ensure_dir(host_store)
                if _recorded(host_store, entry.mark):
                    result.known += 1
                    continue
                name = _record(entry, host_store, when)
            except (OSError, CrashdError) as exc:
                result.problems.append(_line(entry.path, exc))
                continue
            result.created.append(f"{entry.host_label}/{name}")
    return result


def _recorded(host_store: Path, mark: str) -> bool:
    return os.path.lexists(host_store / _LEDGER / mark)


def _record(entry: SpoolEntry, host_store: Path, now: float) -> str:
    cap = Capture(entry.path, entry.name, entry.name[:15], interrupted=False, digest=entry.digest)
    analyse(cap, host_store)
    cap.dumps = []  # the dump stays in the spool, where the crashed machine's record points
    staging = Staging(host_store, cap.mark)
    name, meta = compose(Plan(cap.mark, cap, []), staging, now)
    vm = meta["sources"]["vmcore"]
    if vm is not None:
        vm["file"] = None
        vm["location"] = str(entry.path / entry.dump) if entry.dump else (remote_location(entry.info) or str(entry.path))
        staging.write_json("metadata.json", meta)
    if os.path.lexists(host_store / name):  # published by a run killed before its ledger mark
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging.path)
    else:
        staging.publish(name)
    ledger = host_store / _LEDGER
    ensure_dir(ledger)
    fd = os.open(ledger / cap.mark, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    os.close(fd)
    fsync_dir(ledger)
    return name
