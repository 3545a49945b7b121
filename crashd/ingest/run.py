"""``crashd ingest``: pstore records and saved dumps become crash records.

Runs once per normal boot (crashd-ingest.service). Order of durability: every
source is copied (or, for a dump, moved) into a staging directory and fsync'd,
the record is published by one rename, a ledger marker notes its sources, and
only then are pstore entries unlinked and the spool directory removed. A run
killed at any point loses nothing; the next run resumes the staging directory
(its name depends only on the sources) or, if the record was already
published, finishes the clean-up — never a second record.

Linking one crash's pstore dump and vmcore (one ``kdump+pstore`` record): pstore
carries no boot id, so a pstore dump joins a capture when

1. both logs hold the same crash line with the same uptime stamp (the same
   printk record: proof, whatever else is known), or
2. the capture's ``crashed_boot_id`` is the boot in which crashd last ran
   (``.last-boot`` in the store, written at the end of every ingest: pstore
   records found now were written after it), the pstore record is not older
   than that note, and the two crash lines agree, or
3. the pstore record time and the dump's CRASHTIME are within
   ``MATCH_WINDOW`` seconds and the crash lines agree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashd.capture.spool import CAPTURE_JSON, DMESG_FILE, INCOMPLETE
from crashd.capture.spool import NAME_RE as SPOOL_NAME
from crashd.core.errors import CrashdError, UnsafePathError
from crashd.core.fsutil import fsync_dir, write_durable
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.settings import Config
from crashd.core.tools import ToolRunner
from crashd.crashlog.summary import CrashSummary, summarize
from crashd.ingest.pstore import PstoreCrash, PstoreFile, group, scan
from crashd.ingest.schema import KernelInfo, PstoreSource, RecordMetadata, VmcoreSource
from crashd.ingest.store import (
    Checkpoint,
    Staging,
    StoreFullError,
    _no_checkpoint,
    check_not_symlink,
    ensure_dir,
    list_records,
    open_source,
    sweep_removals,
)

__all__ = [
    "Capture",
    "IngestResult",
    "Ingester",
    "LAST_BOOT",
    "LEDGER",
    "MATCH_WINDOW",
    "Plan",
    "SCHEMA",
    "SPACE_MARGIN",
    "file_mark",
    "ingest",
    "log",
    "pstore_key",
    "stored_name",
]

log = logging.getLogger(__name__)

SCHEMA = 1
MATCH_WINDOW = 600.0
# As crashd.capture.spool names them; "unknown0" when the crashed boot's id was not known.
LEDGER = ".ledger"
LAST_BOOT = ".last-boot"
# Bytes kept free beyond what the new records need (metadata, directory blocks).
SPACE_MARGIN = 1 << 20


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

    @property
    def crashed_boot_id(self) -> str | None:
        value = (self.info or {}).get("crashed_boot_id")
        return value if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value) else None


@dataclass
class Plan:
    """One record to write."""

    key: str  # staging key: depends only on the sources
    capture: Capture | None
    pstore: list[PstoreCrash]

    @property
    def kind(self) -> str:
        if self.capture and self.pstore:
            return "kdump+pstore"
        return "kdump" if self.capture else "pstore"


@dataclass
class IngestResult:
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _iso(ts: float | None) -> str | None:
    if ts is None or ts <= 0:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y%m%dT%H%M%S")


def stored_name(dump: str) -> str:
    """``.incomplete`` marks a store temp file, so a dump named so is kept as ``.partial``."""
    return dump[: -len(".incomplete")] + ".partial" if dump.endswith(".incomplete") else dump


def pstore_key(crash: PstoreCrash) -> str:
    h = hashlib.sha256()
    for f in crash.files:
        h.update(f.name.name.encode() + b"\0" + hashlib.sha256(f.raw).digest())
    return "pstore-" + h.hexdigest()[:16]


def file_mark(f: PstoreFile) -> str:
    """Ledger name of one pstore file: its name and content (ramoops reuses names)."""
    return f"pstore-{f.name.name}-{hashlib.sha256(f.raw).hexdigest()[:32]}"


def _kernel_version(text: str | None) -> str | None:
    if not text:
        return None
    found = re.findall(r"Linux version \S+ .*?\) (#\d+.*)$", text, re.MULTILINE)
    return found[-1].strip() if found else None


def _agree(a: CrashSummary | None, b: CrashSummary | None) -> bool:
    """Two views of one crash: their crash lines must not contradict each other."""
    if a is None or b is None or a.message is None or b.message is None:
        return True
    return a.message == b.message


class Ingester:
    """One ingest run; collaborators are injected so tests can stop it at any step."""

    def __init__(
        self,
        paths: HostPaths,
        config: Config,
        journal: Journal,
        tools: ToolRunner | None = None,
        checkpoint: Checkpoint = _no_checkpoint,
        now: float | None = None,
        pstore_read: Callable[[], None] | None = None,
    ):
        self.paths = paths
        self.config = config
        self.journal = journal
        self.tools = tools or ToolRunner()
        self.checkpoint = checkpoint
        # Called once every pstore entry is in memory: crashd-ingest.service sends READY=1
        # then, so systemd-pstore and the rest of the boot go on while dumps are ingested.
        self.pstore_read = pstore_read
        self.now = time.time() if now is None else now
        self.store = paths.crash_store
        self.result = IngestResult()
        self.unsafe: list[UnsafePathError] = []

    # ------------------------------------------------------------ top level
    def run(self) -> IngestResult:
        ensure_dir(self.store)
        with self._locked():
            sweep_removals(self.store)
            done = self._ingested_marks()
            prev_boot, prev_boot_time = self._last_boot()
            pstore_files = self._pstore_files(done)
            if self.pstore_read is not None:
                self.pstore_read()
            crashes = group(pstore_files)
            with self._spool() as spool:
                captures = self._captures(spool, done) if spool is not None else []
                plans = self._plan(captures, crashes, prev_boot, prev_boot_time)
                # Prune first (always: limits may have been lowered), counting what is about to arrive.
                from crashd.ingest.retention import prune

                removed = prune(
                    self.paths,
                    self.config.retention,
                    self.journal,
                    incoming_records=len(plans),
                    incoming_bytes=sum(self._plan_bytes(p) for p in plans),
                    incoming_signatures=[self._summary(p).signature for p in plans],
                )
                self.result.removed += [r.name for r in removed]
                self._check_space(plans)
                for plan in plans:
                    self._write(plan)
            self._note_boot()
        if self.unsafe:
            raise self.unsafe[0]
        return self.result

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.store / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------- sources
    def _ingested_marks(self) -> set[str]:
        """What earlier runs took in: the ledger, plus published records (a run
        killed between publishing and writing its marks)."""
        marks: set[str] = set()
        ledger = self.store / LEDGER
        with contextlib.suppress(FileNotFoundError):
            check_not_symlink(ledger)
            marks.update(os.listdir(ledger))
        for rec in list_records(self.paths):
            meta = rec.metadata or {}
            vm = (meta.get("sources") or {}).get("vmcore") or {}
            if vm.get("spool"):
                marks.add(f"spool-{vm['spool']}")
            for name, info in (meta.get("files") or {}).items():
                if name.startswith("pstore/") and isinstance(info, dict):
                    marks.add(f"pstore-{name[7:]}-{str(info.get('sha256', ''))[:32]}")
        return marks

    def _last_boot(self) -> tuple[str | None, float | None]:
        path = self.store / LAST_BOOT
        try:
            fd = open_source(path)
        except FileNotFoundError:
            return None, None
        with os.fdopen(fd) as fh:
            value = fh.read().strip()
            mtime = os.fstat(fh.fileno()).st_mtime
        return (value if re.fullmatch(r"[0-9a-f]{32}", value) else None), mtime

    def _note_boot(self) -> None:
        try:
            boot = self.paths.boot_id.read_text().strip().replace("-", "")
        except OSError:
            return
        write_durable(self.store, LAST_BOOT, (boot + "\n").encode())

    def _pstore_files(self, done: set[str]) -> list[PstoreFile]:
        """New pstore files; already-ingested ones in /sys/fs/pstore are unlinked (a killed run's leftovers)."""
        if not self.config.ingest.pstore:
            return []
        new: list[PstoreFile] = []
        for f in self._safe_scan(self.paths.pstore):
            if file_mark(f) in done:
                self._unlink_pstore(f)
            else:
                new.append(f)
        # systemd-pstore's archive: read what it moved there (never delete: its tmpfiles rule ages it out).
        archive = self.paths.systemd_pstore_archive
        seen = {file_mark(f) for f in new}
        for sub in self._archive_dirs(archive):
            for f in self._safe_scan(sub):
                mark = file_mark(f)
                if mark not in done and mark not in seen:
                    seen.add(mark)
                    new.append(f)
        return new

    def _archive_dirs(self, archive: Path) -> list[Path]:
        try:
            check_not_symlink(archive)
        except FileNotFoundError:
            return []
        out = []
        for dirpath, dirnames, _files in os.walk(archive):  # os.walk does not follow symlinks
            dirnames.sort()
            out.append(Path(dirpath))
        return out

    def _safe_scan(self, directory: Path) -> list[PstoreFile]:
        try:
            return scan(directory)
        except UnsafePathError as exc:
            log.error("%s", exc)
            self.unsafe.append(exc)
            return []

    def _unlink_pstore(self, f: PstoreFile) -> None:
        if not self.config.ingest.unlink_pstore or f.path.parent != self.paths.pstore:
            return
        try:
            os.unlink(f.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.result.problems.append(f"{f.path}: cannot remove: {exc.strerror}")
            return
        log.info("removed pstore entry %s (stored)", f.path.name)
        self.checkpoint(f"unlinked {f.path.name}")

    # --------------------------------------------------------------- spool
    @contextlib.contextmanager
    def _spool(self) -> Iterator[Path | None]:
        """The capture target: a directory, or a device mounted for the run as the capture kernel did."""
        from crashd.core.target import is_device, open_target

        target = self.config.capture.target
        if not is_device(target):
            yield self.paths.host(target) if target.startswith("/") else None
            return
        with contextlib.ExitStack() as stack:
            try:
                opened = stack.enter_context(
                    open_target(target, self.config.capture.mount_options, self.paths, self.tools)
                )
            except CrashdError as exc:  # pstore is still ingested; the dumps wait for the next run
                self.result.problems.append(str(exc))
                yield None
                return
            yield opened.path

    def _captures(self, spool: Path, done: set[str]) -> list[Capture]:
        try:
            check_not_symlink(spool)
            names = sorted(os.listdir(spool))
        except FileNotFoundError:
            return []
        out = []
        for name in names:
            m = SPOOL_NAME.match(name)
            if not m:
                continue
            path = spool / name
            cap = Capture(path, name.removesuffix(INCOMPLETE), m["stamp"], bool(m["incomplete"]))
            try:
                check_not_symlink(path)
                for entry in os.listdir(path):
                    check_not_symlink(path / entry)
            except UnsafePathError as exc:
                log.error("%s", exc)
                self.unsafe.append(exc)
                continue
            if f"spool-{cap.key}" in done:
                self._remove_spool(cap)  # published before a kill: finish the clean-up
                continue
            out.append(cap)
        return out

    def _remove_spool(self, cap: Capture) -> None:
        check_not_symlink(cap.path)
        shutil.rmtree(cap.path)
        fsync_dir(cap.path.parent)
        log.info("removed capture directory %s (stored)", cap.path)
        self.checkpoint(f"removed spool {cap.key}")

    def _analyse(self, cap: Capture) -> None:
        """Read capture.json, the dump and the log; record what is missing, invent nothing."""
        staging = self.store / f".spool-{cap.key}.incomplete"
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
            cpus = self._read_dump(cap, src)
        cap.summary = summarize(cap.dmesg, cpus) if cap.dmesg else None
        info = cap.info or {}
        release = cap.kernel.get("release") or info.get("kernel_release") or (cap.summary and cap.summary.release)
        cap.kernel = {
            "machine": cap.kernel.get("machine"),
            "page_size": cap.kernel.get("page_size"),
            "release": release or None,
            "version": _kernel_version(cap.dmesg),
        }
        dump_ok = cap.dump_meta is None or cap.dump_meta.get("complete") is not False
        cap.complete = bool(not cap.interrupted and info.get("complete") is True and dumps and dump_ok)

    def _read_dump(self, cap: Capture, path: Path) -> list[Any] | None:
        meta: VmcoreSource = {
            "complete": None,
            "file": stored_name(path.name),
            "format": None,
            "spool": cap.key,
            "warnings": [],
        }
        cap.dump_meta = meta
        try:
            from crashd.vmcore import open_dump
        except ImportError as exc:  # the reader is optional for ingest: the dump is kept regardless
            meta["warnings"].append(f"vmcore reader unavailable: {exc}")
            return None
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
                meta["warnings"].extend(dump.warnings)
                return list(dump.cpus)
        except CrashdError as exc:
            meta["warnings"].append(str(exc))
            meta["complete"] = False
        return None

    # ------------------------------------------------------------ matching
    def _plan(
        self, captures: list[Capture], crashes: list[PstoreCrash], prev_boot: str | None, prev_time: float | None
    ) -> list[Plan]:
        for cap in captures:
            self._analyse(cap)
        summaries = {id(c): summarize(c.text()) for c in crashes}
        plans = {cap.key: Plan(f"spool-{cap.key}", cap, []) for cap in captures}
        alone: list[Plan] = []
        for crash in crashes:
            ps = summaries[id(crash)]
            best: tuple[int, Capture] | None = None
            for cap in captures:
                score = self._match(crash, ps, cap, prev_boot, prev_time)
                if score and (best is None or score > best[0]):
                    best = (score, cap)
            if best is not None:
                plans[best[1].key].pstore.append(crash)
            else:
                alone.append(Plan(pstore_key(crash), None, [crash]))
        return [*plans.values(), *alone]

    @staticmethod
    def _match(
        crash: PstoreCrash, ps: CrashSummary, cap: Capture, prev_boot: str | None, prev_time: float | None
    ) -> int:
        """0 = not the same crash; higher = stronger evidence (see the module docstring)."""
        cs = cap.summary
        if cs is not None and cs.message and ps.message == cs.message and ps.timestamp is not None:
            if ps.timestamp == cs.timestamp:
                return 3
        if not _agree(ps, cs):
            return 0
        t = crash.time
        if prev_boot and cap.crashed_boot_id == prev_boot and (prev_time is None or t is None or t >= prev_time - 60):
            return 2
        if cap.crash_time and t and abs(cap.crash_time - t) <= MATCH_WINDOW:
            return 1
        return 0

    # -------------------------------------------------------------- writing
    def _plan_bytes(self, plan: Plan) -> int:
        total = sum(len(f.raw) for c in plan.pstore for f in c.files)
        if plan.capture:
            for n in plan.capture.dumps:
                with contextlib.suppress(FileNotFoundError):
                    total += os.lstat(plan.capture.path / n).st_size
        return total

    def _check_space(self, plans: list[Plan]) -> None:
        """Refuse before touching anything when the new records cannot fit."""
        if not plans:
            return
        store_dev = os.stat(self.store).st_dev
        needed = SPACE_MARGIN
        for plan in plans:
            needed += sum(len(f.raw) for c in plan.pstore for f in c.files)
            if plan.capture:
                for n in [DMESG_FILE, CAPTURE_JSON, *plan.capture.dumps]:
                    with contextlib.suppress(FileNotFoundError):
                        st = os.lstat(plan.capture.path / n)
                        if n in (DMESG_FILE, CAPTURE_JSON) or st.st_dev != store_dev:
                            needed += st.st_size
        vfs = os.statvfs(self.store)
        free = vfs.f_bavail * vfs.f_frsize
        if free < needed:
            raise StoreFullError(self.store, needed, free)

    def _summary(self, plan: Plan) -> CrashSummary:
        """The dump's log tells most; pstore's text stands in when it has nothing."""
        summary = plan.capture.summary if plan.capture and plan.capture.summary else CrashSummary()
        if summary.kind == "unknown" and plan.pstore:  # e.g. a dump cut short before the log
            summary = summarize("".join(c.text() for c in plan.pstore))
        return summary

    def _write(self, plan: Plan) -> None:
        staging = Staging(self.store, plan.key, self.checkpoint)
        cap = plan.capture
        pstore_entries: list[PstoreSource] = []
        for crash in plan.pstore:
            for f in crash.files:
                staging.write_bytes(f"pstore/{f.name.name}", f.raw)
            pstore_entries.append(
                {
                    "backend": crash.backend,
                    "compression": sorted({f.compression for f in crash.parts}) or None,
                    "ecc": next((f.ecc for f in crash.parts if f.ecc), None),
                    "missing_parts": crash.missing_parts,
                    "name": crash.parts[-1].name.name if crash.parts else crash.extras[0].name.name,
                    "files": [f.name.name for f in crash.files],
                    "part_count": len(crash.parts),
                    "reason": crash.reason,
                    "time": _iso(crash.time),
                }
            )
        pstore_text = "".join(c.text() for c in plan.pstore)
        if cap is not None:
            if (cap.path / CAPTURE_JSON).is_file():
                staging.copy_file(cap.path / CAPTURE_JSON, CAPTURE_JSON)
            spool_dmesg = cap.path / "dmesg.txt"
            if spool_dmesg.is_file() and spool_dmesg.stat().st_size > 0:
                staging.copy_file(spool_dmesg, "dmesg.txt")
            elif cap.dmesg:
                staging.write_bytes("dmesg.txt", cap.dmesg.encode())
            elif pstore_text:
                staging.write_bytes("dmesg.txt", pstore_text.encode())
            for n in cap.dumps:  # last: the step that takes data out of the spool
                staging.move_file(cap.path / n, stored_name(n))
        elif pstore_text:
            staging.write_bytes("dmesg.txt", pstore_text.encode())
        summary = self._summary(plan)
        crash_time = cap.crash_time if cap and cap.crash_time else None
        if crash_time is None and plan.pstore:
            times = [c.time for c in plan.pstore if c.time]
            crash_time = int(min(times)) if times else None
        stamp_ts: float | None = crash_time
        if stamp_ts is None and cap is not None:
            stamp_ts = dt.datetime.strptime(cap.stamp, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC).timestamp()
        ident = hashlib.sha256(plan.key.encode()).hexdigest()[:8]
        name = f"{_stamp(stamp_ts or self.now)}-{plan.kind}-{ident}"
        complete = cap.complete if cap else all(not c.missing_parts and c.parts for c in plan.pstore)
        kernel = (
            cap.kernel
            if cap
            else {
                "machine": None,
                "page_size": None,
                "release": summary.release,
                "version": _kernel_version(pstore_text),
            }
        )
        if cap and not kernel.get("release"):
            kernel["release"] = summary.release
        vm_source: VmcoreSource | None = None
        if cap is not None:
            vm_source = VmcoreSource(**(cap.dump_meta or {"complete": None, "file": None, "format": None, "warnings": []}))
            vm_source["spool"] = cap.key
            if cap.interrupted:
                vm_source["warnings"] = [*vm_source.get("warnings", []), "capture directory still marked .incomplete"]
            if cap.info_problem:
                vm_source["warnings"] = [*vm_source.get("warnings", []), cap.info_problem]
        meta: RecordMetadata = {
            "schema": SCHEMA,
            "id": ident,
            "kind": plan.kind,
            "complete": bool(complete),
            "crash_time": _iso(crash_time),
            "ingested_at": _iso(self.now),
            "crashed_boot_id": cap.crashed_boot_id if cap else None,
            "kernel": kernel,
            "panic": summary.to_dict(),
            "signature": summary.signature,
            "sources": {"vmcore": vm_source, "pstore": pstore_entries},
            "files": staging.files(),
            "capture": cap.info if cap else None,
        }
        staging.write_json("metadata.json", meta)
        final = staging.publish(name)
        self._mark(plan)
        self.result.created.append(name)
        log.info("created crash record %s", final)
        self.journal.event(
            "record_created",
            summary.message or f"kernel crash recorded ({plan.kind}), no panic line found",
            priority=4,
            record=name,
            signature=summary.signature,
            kernel=kernel.get("release"),
            kind=summary.kind,
        )
        for crash in plan.pstore:
            for f in crash.files:
                self._unlink_pstore(f)
        if cap is not None:
            self._remove_spool(cap)

    def _mark(self, plan: Plan) -> None:
        ledger = self.store / LEDGER
        ensure_dir(ledger)
        marks = [file_mark(f) for c in plan.pstore for f in c.files]
        if plan.capture:
            marks.append(f"spool-{plan.capture.key}")
        for mark in marks:
            fd = os.open(ledger / mark, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.close(fd)
        fsync_dir(ledger)
        self.checkpoint("marked")


def ingest(
    paths: HostPaths,
    config: Config,
    journal: Journal,
    tools: ToolRunner | None = None,
    pstore_read: Callable[[], None] | None = None,
) -> IngestResult:
    """One ingest run (what the service does)."""
    return Ingester(paths, config, journal, tools, pstore_read=pstore_read).run()
