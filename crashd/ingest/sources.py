"""Where crash evidence is found: pstore entries, capture directories in the spool, the ledger.

Everything here only reads (and, for an entry an earlier run already stored,
removes the leftover): what a crash left is evidence, so a source is parsed
without following symlinks and whatever it lacks is noted, never invented.
The orchestrator (``crashd.ingest.run``) decides what becomes a record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashd.capture.spool import CAPTURE_JSON, DMESG_FILE, INCOMPLETE, spool_path
from crashd.capture.spool import NAME_RE as SPOOL_NAME
from crashd.core.errors import CrashdError, UnsafePathError
from crashd.core.fsutil import read_regular, write_durable
from crashd.core.paths import HostPaths
from crashd.core.settings import Config
from crashd.core.tools import ToolRunner
from crashd.crashlog.summary import CrashSummary, summarize
from crashd.ingest.pstore import PstoreFile
from crashd.ingest.schema import KernelInfo, VmcoreSource
from crashd.ingest.store import check_not_symlink, list_records, open_source

__all__ = [
    "remote_location",
    "Capture",
    "LAST_BOOT",
    "LEDGER",
    "MAX_SIDE_FILE",
    "analyse",
    "archive_dirs",
    "check_inside",
    "file_mark",
    "find_captures",
    "ingested_marks",
    "kernel_version",
    "last_boot",
    "log",
    "note_boot",
    "open_spool",
    "pstore_mark",
    "read_dump",
    "spool_dirs",
    "stored_name",
    "target_allowed",
    "UNIT_SPOOL_ROOT",
]

log = logging.getLogger(__name__)

LEDGER = ".ledger"
LAST_BOOT = ".last-boot"
# capture.json and dmesg.txt are small; a bigger one is not the capture kernel's.
MAX_SIDE_FILE = 64 << 20


@dataclass
class Capture:
    """One capture directory in the spool, as the capture kernel left it."""

    path: Path
    key: str  # directory name without ".incomplete"
    stamp: str
    interrupted: bool
    info: dict[str, Any] | None = None  # capture.json as found (untrusted; see CaptureInfo), None if missing or unreadable
    info_problem: str | None = None
    dumps: list[str] = field(default_factory=list)
    dump_meta: VmcoreSource | None = None
    kernel: KernelInfo = field(default_factory=lambda: KernelInfo(machine=None, page_size=None, release=None, version=None))
    crash_time: int | None = None
    dmesg: str | None = None
    summary: CrashSummary | None = None
    complete: bool = False
    digest: str = ""  # see _digest

    @property
    def mark(self) -> str:
        """Ledger name and staging key: the spool name *and* content (names repeat: ``unknown0``)."""
        return f"spool-{self.key}-{self.digest}"

    @property
    def crashed_boot_id(self) -> str | None:
        value = (self.info or {}).get("crashed_boot_id")
        return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) else None


def stored_name(dump: str) -> str:
    """``.incomplete`` marks a store temp file, so a dump named so is kept as ``.partial``."""
    return dump[: -len(".incomplete")] + ".partial" if dump.endswith(".incomplete") else dump


def file_mark(f: PstoreFile) -> str:
    """Ledger name of one pstore file: its name and content (ramoops reuses names)."""
    return pstore_mark(f.name.name, hashlib.sha256(f.raw).hexdigest()[:32])


def pstore_mark(name: str, digest: str) -> str:
    """A name near NAME_MAX (255 bytes) would not fit beside the digest: it is hashed too."""
    if len(os.fsencode(name)) > 160:
        name = "h" + hashlib.sha256(os.fsencode(name)).hexdigest()[:32]
    return f"pstore-{name}-{digest}"


def kernel_version(text: str | None) -> str | None:
    """The ``#1 SMP …`` part of the last ``Linux version`` banner in a log."""
    if not text:
        return None
    found = re.findall(r"Linux version \S+ .*?\) (#\d+.*)$", text, re.MULTILINE)
    return found[-1].strip() if found else None


# ----------------------------------------------------------------- the ledger
def ingested_marks(paths: HostPaths, store: Path) -> set[str]:
    """What earlier runs took in: the ledger, plus published records (a run
    killed between publishing and writing its marks)."""
    marks: set[str] = set()
    ledger = store / LEDGER
    with contextlib.suppress(FileNotFoundError):
        check_not_symlink(ledger)
        marks.update(os.listdir(ledger))
    for rec in list_records(paths):
        meta = rec.metadata or {}
        vm = (meta.get("sources") or {}).get("vmcore") or {}
        if vm.get("spool") and vm.get("spool_digest"):
            marks.add(f"spool-{vm['spool']}-{vm['spool_digest']}")
        for name, info in (meta.get("files") or {}).items():
            if name.startswith("pstore/") and isinstance(info, dict):
                base = name.rsplit("/", 1)[-1]  # archived files sit one level deeper
                marks.add(pstore_mark(base, str(info.get("sha256", ""))[:32]))
    return marks


def last_boot(store: Path) -> tuple[str | None, float | None]:
    """The boot in which crashd last ran, and when it noted it."""
    path = store / LAST_BOOT
    try:
        fd = open_source(path)
    except FileNotFoundError:
        return None, None
    with os.fdopen(fd) as fh:
        value = fh.read().strip()
        mtime = os.fstat(fh.fileno()).st_mtime
    return (value if re.fullmatch(r"[0-9a-f]{32}", value) else None), mtime


def note_boot(paths: HostPaths, store: Path) -> None:
    try:
        boot = paths.boot_id.read_text().strip().replace("-", "")
    except OSError:
        return
    write_durable(store, LAST_BOOT, (boot + "\n").encode())


def check_inside(root: Path, path: Path) -> None:
    """Refuse ``path`` when a symlink on the way (``/sys/fs/pstore``, ``/var/lib``) leads out
    of the root: under ``--root`` the host's own files must never be read or unlinked."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        raise UnsafePathError(path, f"resolves to {real}, outside the root {real_root}; not followed")


# --------------------------------------------------------------------- pstore
def archive_dirs(archive: Path) -> list[Path]:
    """systemd-pstore's archive and every directory below it (never through a symlink)."""
    try:
        check_not_symlink(archive)
    except FileNotFoundError:
        return []
    out = []
    for dirpath, dirnames, _files in os.walk(archive):  # os.walk does not follow symlinks
        dirnames.sort()
        out.append(Path(dirpath))
    return out


# ---------------------------------------------------------------------- spool
# crashd-ingest.service runs under ProtectSystem=strict and may write (remove what it
# stored) only here: ReadWritePaths= and RequiresMountsFor= cannot follow a config file.
UNIT_SPOOL_ROOT = "/var/crash"


def target_allowed(target: str) -> bool:
    """A directory target must be ``/var/crash`` or below it (a UUID=/LABEL=/device target
    is mounted under /run/crashd, which the unit may write). ``config check`` applies this rule."""
    from crashd.core.remote import is_remote
    from crashd.core.target import is_device

    if is_device(target) or is_remote(target):  # a remote target's local copy is in /var/crash
        return True
    if not target.startswith("/") or "\0" in target:
        return False
    norm = os.path.normpath(target)
    return norm == UNIT_SPOOL_ROOT or norm.startswith(UNIT_SPOOL_ROOT + "/")


@contextlib.contextmanager
def open_spool(
    paths: HostPaths, config: Config, tools: ToolRunner, failed: Callable[[CrashdError], None]
) -> Iterator[Path | None]:
    """The capture target: a directory, or a device mounted for the run as the capture kernel did."""
    from crashd.core.target import is_device, open_target

    target = config.capture.target
    if not is_device(target):
        yield paths.host(target) if target.startswith("/") else None
        return
    with contextlib.ExitStack() as stack:
        try:
            opened = stack.enter_context(open_target(target, config.capture.mount_options, paths, tools))
        except CrashdError as exc:  # pstore is still ingested; the dumps wait for the next run
            failed(exc)
            yield None
            return
        yield opened.path


def spool_dirs(target: Path) -> list[Path]:
    """Where captures are: crashd's private ``<target>/crashd/`` (what ``crashd save`` writes
    now), then the target itself (older versions), whose entries must pass the same checks."""
    return [spool_path(target), target]


def find_captures(spool: Path, refused: Callable[[Path, CrashdError], None], private: bool = False) -> list[Capture]:
    """Every capture directory in the spool that is safe to read; the others go to ``refused``.

    Refused (by name, and left where they are): a symlink, an entry or file not
    ours, and ``capture.json``, ``dmesg.txt`` or a ``vmcore*`` that is not a
    regular file (a FIFO would hang the reader, a directory would be deleted as
    "stored"). ``private``: the spool itself must be ours and writable by no one
    else (crashd's own spool directory), else none of it is read."""
    try:
        st = check_not_symlink(spool)
        names = sorted(os.listdir(spool))
    except FileNotFoundError:
        return []
    except UnsafePathError as exc:
        refused(spool, exc)
        return []
    if private and (st.st_uid != os.geteuid() or st.st_mode & 0o022):
        refused(spool, UnsafePathError(spool, "is not crashd's private spool directory (owner or mode); not read"))
        return []
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        refused(spool, UnsafePathError(spool, "is group/world-writable without the sticky bit: anyone could swap its captures"))
        return []
    out = []
    for name in names:
        m = SPOOL_NAME.match(name)
        if not m:
            continue
        path = spool / name
        cap = Capture(path, name.removesuffix(INCOMPLETE), m["stamp"], bool(m["incomplete"]))
        try:
            _check_capture_dir(path)
            cap.digest = _digest(path)
        except CrashdError as exc:
            log.error("%s", exc)
            refused(path, exc)
            continue
        except OSError as exc:
            refused(path, CrashdError(f"{exc.filename or path}: {exc.strerror or exc}"))
            continue
        out.append(cap)
    return out


def _check_capture_dir(path: Path) -> None:
    """Only what this process's user (root in production) wrote, in a directory nobody else may
    write, is evidence — as apport's kernel_crashdump checks against ``geteuid()``."""
    st = check_not_symlink(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "is not a directory")
    _check_owner(path, st)
    if st.st_mode & 0o022:
        raise UnsafePathError(path, "is group/world-writable: not a capture crashd wrote")
    for entry in os.listdir(path):
        est = check_not_symlink(path / entry)
        _check_owner(path / entry, est)
        if (entry in (CAPTURE_JSON, DMESG_FILE) or entry.startswith("vmcore")) and not stat.S_ISREG(est.st_mode):
            raise UnsafePathError(path / entry, "is not a regular file")


def _check_owner(path: Path, st: os.stat_result) -> None:
    if st.st_uid != os.geteuid():
        raise UnsafePathError(path, f"is owned by uid {st.st_uid}, not {os.geteuid()}: refusing a capture crashd did not write")


def _digest(path: Path) -> str:
    """What identifies a capture beyond its name: capture.json and dmesg.txt, which the
    ingest copies (never moves), so the digest is the same before, during and after a run."""
    h = hashlib.sha256()
    for name in (CAPTURE_JSON, DMESG_FILE):
        try:
            data = read_regular(path / name, MAX_SIDE_FILE)
        except FileNotFoundError:
            data = b""
        h.update(hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def analyse(cap: Capture, store: Path) -> None:
    """Read capture.json, the dump and the log; record what is missing, invent nothing."""
    staging = store / f".{cap.mark}.incomplete"
    try:
        fd = open_source(cap.path / CAPTURE_JSON)
        with os.fdopen(fd, "rb") as fh:
            info = json.loads(fh.read().decode("utf-8"))
        cap.info = info if isinstance(info, dict) else None
        if cap.info is None:
            cap.info_problem = "capture.json is not a JSON object"
    except FileNotFoundError:
        cap.info_problem = "capture.json missing (capture interrupted)"
    except (ValueError, UnicodeDecodeError) as exc:
        cap.info_problem = f"capture.json unreadable ({exc.__class__.__name__}): capture interrupted"
    # A killed earlier run may already have moved the dumps into its staging directory.
    names = set(os.listdir(cap.path))
    with contextlib.suppress(FileNotFoundError):
        names |= {n for n in os.listdir(staging) if not n.endswith(".incomplete")}
    dumps = sorted(n for n in names if n.startswith("vmcore"))
    main = (cap.info or {}).get("dump_file")
    if isinstance(main, str) and main in dumps:
        dumps.remove(main)
        dumps.insert(0, main)
    cap.dumps = dumps
    spool_dmesg = cap.path / DMESG_FILE
    if spool_dmesg.is_file():
        fd = open_source(spool_dmesg)
        with os.fdopen(fd, "rb") as fh:
            cap.dmesg = fh.read().decode("utf-8", "replace") or None
    cpus = None
    if dumps:
        first = stored_name(dumps[0])
        src = staging / first if (staging / first).is_file() else cap.path / dumps[0]
        cpus = read_dump(cap, src)
    cap.summary = summarize(cap.dmesg, cpus) if cap.dmesg else None
    info = cap.info or {}
    release = cap.kernel.get("release") or info.get("kernel_release") or (cap.summary and cap.summary.release)
    cap.kernel = {
        "machine": cap.kernel.get("machine"),
        "page_size": cap.kernel.get("page_size"),
        "release": release or None,
        "version": kernel_version(cap.dmesg),
    }
    dump_ok = cap.dump_meta is None or cap.dump_meta.get("complete") is not False
    # A dump saved on a dump server (ssh://, nfs://) is not here; capture.json names where it is.
    remote = remote_location(info)
    cap.complete = bool(not cap.interrupted and info.get("complete") is True and (dumps or remote) and dump_ok)


def read_dump(cap: Capture, path: Path) -> list[Any] | None:
    """What the dump itself says (kernel, crash time, log, CPUs); its problems become warnings."""
    meta: VmcoreSource = {
        "complete": None,
        "file": stored_name(path.name),
        "format": None,
        "spool": cap.key,
        "warnings": [],
    }
    cap.dump_meta = meta
    # In-tree: a reader that cannot be imported is a broken install, and must fail this
    # capture loudly (an ingest_failed event; the capture stays) rather than make records
    # that silently lack what the dump says.
    from crashd.vmcore import open_dump

    try:
        with open_dump(path) as dump:
            meta["format"] = getattr(dump, "format", None)
            meta["complete"] = bool(dump.complete)
            cap.kernel = {
                "release": dump.kernel_release,
                "machine": dump.machine,
                "page_size": dump.page_size,
                "version": None,
            }
            cap.crash_time = dump.crash_time
            if cap.dmesg is None:
                try:
                    cap.dmesg = dump.dmesg_text() or None
                except CrashdError as exc:
                    meta["warnings"].append(f"dmesg unavailable: {exc}")
                except (ValueError, IndexError, OverflowError, struct.error) as exc:
                    # A hostile VMCOREINFO (a negative OFFSET()) must cost the log, not the dump.
                    log.error("%s: reading the log failed", path, exc_info=True)
                    meta["warnings"].append(f"dmesg unavailable: {exc.__class__.__name__}: {exc}")
            meta["warnings"].extend(dump.warnings)
            return list(dump.cpus)
    except CrashdError as exc:
        meta["warnings"].append(str(exc))
        meta["complete"] = False
    return None


def remote_location(info: dict[str, Any]) -> str | None:
    """Where a capture kernel put the dump when it went off the machine, or None."""
    value = info.get("remote_location")
    if isinstance(value, str) and value.startswith(("ssh://", "nfs://")) and value.isprintable() and len(value) < 4096:
        return value
    return None
