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

from crashd.core.errors import UnsafePathError
from crashd.core.fsutil import fsync_dir
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.settings import Config
from crashd.core.tools import ToolRunner
from crashd.ingest.compose import SPACE_MARGIN, compose, needed_bytes, plan_bytes, record_summary
from crashd.ingest.matching import Plan, plan_records
from crashd.ingest.pstore import PstoreFile, group
from crashd.ingest.sources import (
    LEDGER,
    Capture,
    analyse,
    archive_dirs,
    file_mark,
    find_captures,
    ingested_marks,
    last_boot,
    note_boot,
    open_spool,
    safe_scan,
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
        self.unsafe: list[UnsafePathError] = []

    def run(self) -> IngestResult:
        ensure_dir(self.store)
        with self._locked():
            sweep_removals(self.store)
            done = ingested_marks(self.paths, self.store)
            prev_boot, prev_boot_time = last_boot(self.store)
            pstore_files = self._pstore_files(done)
            if self.pstore_read is not None:
                self.pstore_read()
            crashes = group(pstore_files)
            with open_spool(self.paths, self.config, self.tools, self.result.problems) as spool:
                captures = []
                for cap in find_captures(spool, self.unsafe.append) if spool is not None else []:
                    if f"spool-{cap.key}" in done:
                        self._remove_spool(cap)  # published before a kill: finish the clean-up
                        continue
                    captures.append(cap)
                for cap in captures:
                    analyse(cap, self.store)
                plans = plan_records(captures, crashes, prev_boot, prev_boot_time)
                # Prune first (always: limits may have been lowered), counting what is about to arrive.
                from crashd.ingest.retention import prune

                removed = prune(
                    self.paths,
                    self.config.retention,
                    self.journal,
                    incoming_records=len(plans),
                    incoming_bytes=sum(plan_bytes(p) for p in plans),
                    incoming_signatures=[record_summary(p).signature for p in plans],
                )
                self.result.removed += [r.name for r in removed]
                self._check_space(plans)
                for plan in plans:
                    self._write(plan)
            note_boot(self.paths, self.store)
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

    def _pstore_files(self, done: set[str]) -> list[PstoreFile]:
        """New pstore files; already-ingested ones in /sys/fs/pstore are unlinked (a killed run's leftovers)."""
        if not self.config.ingest.pstore:
            return []
        new: list[PstoreFile] = []
        for f in safe_scan(self.paths.pstore, self.unsafe.append):
            if file_mark(f) in done:
                self._unlink_pstore(f)
            else:
                new.append(f)
        # systemd-pstore's archive: read what it moved there (never delete: its tmpfiles rule ages it out).
        seen = {file_mark(f) for f in new}
        for sub in archive_dirs(self.paths.systemd_pstore_archive):
            for f in safe_scan(sub, self.unsafe.append):
                mark = file_mark(f)
                if mark not in done and mark not in seen:
                    seen.add(mark)
                    new.append(f)
        return new

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

    def _remove_spool(self, cap: Capture) -> None:
        check_not_symlink(cap.path)
        shutil.rmtree(cap.path)
        fsync_dir(cap.path.parent)
        log.info("removed capture directory %s (stored)", cap.path)
        self.checkpoint(f"removed spool {cap.key}")

    def _check_space(self, plans: list[Plan]) -> None:
        """Refuse before touching anything when the new records cannot fit."""
        if not plans:
            return
        store_dev = os.stat(self.store).st_dev
        needed = SPACE_MARGIN + sum(needed_bytes(p, store_dev) for p in plans)
        vfs = os.statvfs(self.store)
        free = vfs.f_bavail * vfs.f_frsize
        if free < needed:
            raise StoreFullError(self.store, needed, free)

    def _write(self, plan: Plan) -> None:
        staging = Staging(self.store, plan.key, self.checkpoint)
        name, meta = compose(plan, staging, self.now)
        final = staging.publish(name)
        self._mark(plan)
        self.result.created.append(name)
        log.info("created crash record %s", final)
        summary = record_summary(plan)
        self.journal.event(
            "record_created",
            summary.message or f"kernel crash recorded ({plan.kind}), no panic line found",
            priority=4,
            record=name,
            signature=summary.signature,
            kernel=meta["kernel"].get("release"),
            kind=summary.kind,
        )
        for crash in plan.pstore:
            for f in crash.files:
                self._unlink_pstore(f)
        if plan.capture is not None:
            self._remove_spool(plan.capture)

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
