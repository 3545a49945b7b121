"""``crashd ingest``: pstore records and saved dumps become crash records.

Runs once per normal boot (crashd-ingest.service). This module orchestrates:
``sources`` finds the evidence, ``matching`` decides which pieces are one
crash, ``compose`` writes one record, ``retention`` makes room.

Order of durability: every source is copied (or, for a dump, moved) into a
staging directory and fsync'd, the record is published by one rename, a ledger
marker notes its sources, and only then are pstore entries unlinked and the
spool directory removed. A run killed at any point loses nothing; the next run
resumes the staging directory (its name depends only on the sources) or, if the
record was already published, finishes the clean-up — never a second record.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from crashd.capture.spool import spool_path
from crashd.core.errors import CrashdError, UnsafePathError
from crashd.core.fsutil import fsync_dir
from crashd.core.hostinfo import read_identity
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.settings import Config, setting
from crashd.core.tools import ToolRunner
from crashd.ingest.compose import SPACE_MARGIN, compose, needed_bytes, plan_bytes, record_summary
from crashd.ingest.journal_fields import record_fields
from crashd.ingest.matching import Plan, plan_records
from crashd.ingest.printable import printable
from crashd.ingest.pstore import PstoreFile, group, scan
from crashd.ingest.retention import Removal, prune
from crashd.ingest.selftest_result import resolve as resolve_selftest
from crashd.ingest.sources import (
    LEDGER,
    UNIT_SPOOL_ROOT,
    Capture,
    analyse,
    archive_dirs,
    check_inside,
    file_mark,
    find_captures,
    ingested_marks,
    last_boot,
    note_boot,
    open_spool,
    spool_dirs,
    target_allowed,
)
from crashd.ingest.store import (
    Checkpoint,
    Staging,
    StoreFullError,
    _no_checkpoint,
    check_not_symlink,
    ensure_dir,
    sweep_removals,
)
from crashd.ingest.unclean import unclean_resets

__all__ = ["IngestResult", "Ingester", "ingest", "log"]

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    created: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


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

    def run(self) -> IngestResult:
        """Every source on its own: one that cannot be ingested is reported (an
        ``ingest_failed`` event naming it), left where it is, and the others go on."""
        check_inside(self.paths.root, self.store)
        ensure_dir(self.store)
        with self._locked():
            sweep_removals(self.store)
            done = ingested_marks(self.paths, self.store)
            prev_boot, prev_boot_time = last_boot(self.store)
            pstore_files = self._pstore_files(done)
            if self.pstore_read is not None:
                self.pstore_read()
            crashes = group(pstore_files)
            target = self.config.capture.target
            if not target_allowed(target):
                problem = (
                    f"capture target {target}: crashd-ingest.service may remove stored dumps only below "
                    f"{UNIT_SPOOL_ROOT} (ReadWritePaths=); move the target there or use a UUID=/LABEL= device"
                )
                log.warning("%s", problem)
                self.result.problems.append(problem)
            with open_spool(self.paths, self.config, self.tools, self._spool_failed) as spool:
                found: list[Capture] = []
                for where in self._spool_dirs(spool):
                    found += find_captures(where, self._refused, private=where != spool)
                captures = [cap for cap in found if not self._already_stored(cap, done)]
                analysed = []
                for cap in captures:
                    try:
                        analyse(cap, self.store)
                    except Exception as exc:  # noqa: BLE001 - one capture must not stop the others
                        self._fail(str(cap.path), exc)
                        continue
                    analysed.append(cap)
                plans = plan_records(analysed, crashes, prev_boot, prev_boot_time)
                self._prune(plans)
                # pstore first: it is small, and the dump of another crash must not hold it up.
                for plan in sorted(plans, key=lambda p: p.capture is not None):
                    try:
                        self._make_room(plan)
                        self._write(plan)
                    except Exception as exc:  # noqa: BLE001 - see above
                        self._fail(self._source(plan), exc)
                try:  # an armed previous boot that ended uncleanly and left nothing: crashd.ingest.unclean
                    self.result.created += unclean_resets(
                        self.paths, self.journal, self.tools, self.now, spool=spool, created=self.result.created,
                        pstore=bool(crashes), checkpoint=self.checkpoint)
                except (OSError, CrashdError) as exc:
                    self._fail(self.paths.unhost(self.paths.boot_ledger), exc)
            try:  # a `crashd test --crash` before this boot: passed or failed, now that records are in
                resolve_selftest(self.paths, self.journal)
            except (OSError, CrashdError) as exc:
                self.result.problems.append(f"self-test result: {exc}")
            try:
                note_boot(self.paths, self.store)
            except OSError as exc:  # e.g. the disk filled up: the records are stored all the same
                self.result.problems.append(f"{self.store}: cannot note this boot: {exc.strerror or exc}")
        return self.result

    # ---------------------------------------------------------------- failures
    def _fail(self, source: str, exc: BaseException) -> None:
        """One source could not be ingested: say which and why, once, and leave it for the next run."""
        if isinstance(exc, CrashdError):
            reason = str(exc)
        elif isinstance(exc, OSError):
            reason = f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}"
        else:  # a bug, or input nobody foresaw: the traceback goes to the log
            log.error("ingesting %s failed", source, exc_info=exc)
            reason = f"{exc.__class__.__name__}: {exc}"
        source, reason = printable(source, 4096), printable(reason, 4096)
        problem = f"{source}: {reason}" if not reason.startswith(source) else reason
        self.result.problems.append(problem)
        log.error("%s; left in place for the next run", problem)
        self.journal.event(
            "ingest_failed",
            f"Crash ingest failed for {source}: {reason}; left in place for the next run",
            priority=3,
            source=source,
        )

    def _refused(self, path: Path, exc: CrashdError) -> None:
        self._fail(str(path), exc)

    def _spool_failed(self, exc: CrashdError) -> None:
        self._fail(self.config.capture.target, exc)

    @staticmethod
    def _source(plan: Plan) -> str:
        if plan.capture is not None:
            return str(plan.capture.path)
        return ", ".join(str(f.path) for c in plan.pstore for f in c.files)

    # -------------------------------------------------------------------- space
    def _prune(self, plans: list[Plan]) -> None:
        """Limits may have been lowered: prune even when nothing arrives."""
        if not plans:
            self.result.removed += [r.name for r in prune(self.paths, self.config.retention, self.journal)]

    def _make_room(self, plan: Plan) -> None:
        """Prune for this record, but only if the record then fits; refuse it otherwise."""
        store_dev = os.stat(self.store).st_dev
        needed = SPACE_MARGIN + needed_bytes(plan, store_dev)
        signature = record_summary(plan).signature

        def prune_for(dry_run: bool) -> list[Removal]:
            return prune(
                self.paths,
                self.config.retention,
                self.journal,
                incoming_records=1,
                incoming_bytes=plan_bytes(plan),
                incoming_signatures=[signature],
                protect=self.result.created,
                dry_run=dry_run,
            )

        free = self._free()
        if free + sum(r.size for r in prune_for(True)) < needed:
            raise StoreFullError(self.store, needed, free)
        removed = prune_for(False)
        self.result.removed += [r.name for r in removed]
        free = self._free()
        if free < needed:
            raise StoreFullError(self.store, needed, free)

    def _free(self) -> int:
        vfs = os.statvfs(self.store)
        return vfs.f_bavail * vfs.f_frsize

    def _spool_dirs(self, target: Path | None) -> list[Path]:
        """The target's spool directories, and the root file system's default one, where the
        capture keeps dmesg.txt and capture.json when the target could not be used."""
        dirs = spool_dirs(target) if target is not None else []
        fallback = spool_path(self.paths.host(setting("capture", "target").default))
        return dirs if fallback in dirs else [*dirs, fallback]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self.store / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _pstore_files(self, done: set[str]) -> list[PstoreFile]:
        """New pstore files; already-ingested ones in /sys/fs/pstore are unlinked (a killed run's leftovers)."""
        if not self.config.ingest.pstore:
            return []
        new: list[PstoreFile] = []
        for f in self._scan(self.paths.pstore):
            if file_mark(f) in done:
                self._unlink_pstore(f)
            else:
                new.append(f)
        # systemd-pstore's archive: read what it moved there (never delete: its tmpfiles rule ages it out).
        seen = {file_mark(f) for f in new}
        archive = self.paths.systemd_pstore_archive
        try:
            check_inside(self.paths.root, archive)
        except UnsafePathError as exc:
            self._fail(str(archive), exc)
            return new
        for sub in archive_dirs(archive):
            for f in self._scan(sub):
                f.subdir = "-".join(["archive", *sub.relative_to(archive).parts])
                mark = file_mark(f)
                if mark not in done and mark not in seen:
                    seen.add(mark)
                    new.append(f)
        return new

    def _scan(self, directory: Path) -> list[PstoreFile]:
        try:
            check_inside(self.paths.root, directory)
        except UnsafePathError as exc:
            self._fail(str(directory), exc)
            return []
        return scan(directory, self._refused)

    def _unlink_pstore(self, f: PstoreFile) -> None:
        if not self.config.ingest.unlink_pstore or f.path.parent != self.paths.pstore:
            return
        try:
            os.unlink(f.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.result.problems.append(f"{f.path}: stored, but cannot remove: {exc.strerror}")
            return
        log.info("removed pstore entry %s (stored)", f.path.name)
        self.checkpoint(f"unlinked {f.path.name}")

    def _already_stored(self, cap: Capture, done: set[str]) -> bool:
        """A capture published before a kill: finish its clean-up. Only the same
        name *and* content counts, and only once no dump is left in it."""
        if cap.mark not in done:
            return False
        left = sorted(n for n in os.listdir(cap.path) if n.startswith("vmcore"))
        if left:
            self._fail(str(cap.path), CrashdError(f"{cap.path}: already stored, but still holds {', '.join(left)}"))
            return True
        try:
            self._remove_spool(cap)
        except OSError as exc:
            self._fail(str(cap.path), exc)
        return True

    def _remove_spool(self, cap: Capture) -> None:
        check_not_symlink(cap.path)
        shutil.rmtree(cap.path)
        fsync_dir(cap.path.parent)
        log.info("removed capture directory %s (stored)", cap.path)
        self.checkpoint(f"removed spool {cap.key}")

    def _write(self, plan: Plan) -> None:
        staging = Staging(self.store, plan.key, self.checkpoint)
        name, meta = compose(plan, staging, self.now)
        final = staging.publish(name)
        self._mark(plan)
        self.result.created.append(name)
        log.info("created crash record %s", final)
        summary = record_summary(plan)
        # Said as what happened now (a record was made), not as the panic line itself: a
        # search of this boot's journal for panics must not find one (notice, not warning).
        line = printable(summary.message) or "no panic line found"
        self.journal.event(
            "record_created",
            f"Kernel crash in the previous boot recorded as {name}: {line} "
            f"({plan.kind}, signature {summary.signature or 'none'})",
            priority=5,
            **record_fields(name, dict(meta), read_identity(self.paths)),
        )
        for crash in plan.pstore:
            for f in crash.files:
                self._unlink_pstore(f)
        if plan.capture is not None:
            if staging.left_behind:
                names = ", ".join(p.name for p in staging.left_behind)
                self.result.problems.append(f"{plan.capture.path}: stored as {name}, but {names} could not be removed")
            else:
                try:
                    self._remove_spool(plan.capture)
                except OSError as exc:
                    self.result.problems.append(f"{plan.capture.path}: stored as {name}, but not removed: {exc.strerror}")

    def _mark(self, plan: Plan) -> None:
        ledger = self.store / LEDGER
        ensure_dir(ledger)
        marks = [file_mark(f) for c in plan.pstore for f in c.files]
        if plan.capture:
            marks.append(plan.capture.mark)
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
