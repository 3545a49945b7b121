"""Pruning old crash records ([retention] max_records, max_size, max_age, min_free).

Oldest first, but the first and the latest record of each signature stay: the
first says when a problem began, the latest that it is still there. Records
being written (``protect``) are never candidates. Each removal is logged and
sent to the journal as ``record_removed``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection
from dataclasses import dataclass

from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.settings import RetentionConfig
from crashd.ingest.store import Record, list_records, record_size, remove_record, store_dir

__all__ = ["Removal", "keepers", "log", "prune"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Removal:
    name: str
    reason: str
    size: int


def _age(rec: Record, now: float) -> float:
    try:
        return now - os.lstat(rec.path / "metadata.json").st_mtime
    except FileNotFoundError:
        return now - os.lstat(rec.path).st_mtime


def _free(paths: HostPaths) -> int:
    st = os.statvfs(store_dir(paths))
    return st.f_bavail * st.f_frsize


def keepers(records: list[Record], incoming_signatures: Collection[str | None] = ()) -> set[str]:
    """The first and latest record of each signature (records are oldest first);
    a record about to arrive becomes the latest of its signature."""
    first: dict[str, str] = {}
    latest: dict[str, str] = {}
    for rec in records:
        sig = (rec.metadata or {}).get("signature")
        if not sig:
            continue
        first.setdefault(sig, rec.name)
        latest[sig] = rec.name
    for sig in incoming_signatures:
        if sig:
            latest.pop(sig, None)
    return set(first.values()) | set(latest.values())


def prune(
    paths: HostPaths,
    cfg: RetentionConfig,
    journal: Journal,
    *,
    incoming_records: int = 0,
    incoming_bytes: int = 0,
    incoming_signatures: Collection[str | None] = (),
    protect: Collection[str] = (),
    now: float | None = None,
    dry_run: bool = False,
) -> list[Removal]:
    """Remove records until the limits hold with ``incoming_*`` added; return what went.

    ``dry_run``: only say what would go (ingest asks first, so that nothing is
    pruned for a record that would not fit anyway)."""
    if not store_dir(paths).is_dir():
        return []
    now = time.time() if now is None else now
    records = list_records(paths)
    keep = keepers(records, incoming_signatures) | set(protect)
    sizes = {r.name: record_size(r.path) for r in records}
    count = len(records) + incoming_records
    total = sum(sizes.values()) + incoming_bytes
    free = _free(paths) - incoming_bytes if cfg.min_free else 0
    removed: list[Removal] = []
    for rec in records:  # oldest first
        if rec.name in keep:
            continue
        reason = None
        if cfg.max_age and _age(rec, now) > cfg.max_age:
            reason = "older than max_age"
        elif cfg.max_records and count > cfg.max_records:
            reason = "more than max_records"
        elif cfg.max_size and total > cfg.max_size:
            reason = "over max_size"
        elif cfg.min_free and free < cfg.min_free:
            reason = "less than min_free"
        if reason is None:
            continue
        size = sizes[rec.name]
        count -= 1
        total -= size
        free += size
        removed.append(Removal(rec.name, reason, size))
        if dry_run:
            continue
        remove_record(rec.path)
        log.info("removed crash record %s (%s, %d bytes)", rec.name, reason, size)
        journal.event(
            "record_removed",
            f"Removed crash record {rec.name}: {reason}",
            record=rec.name,
            reason=reason,
        )
    if not dry_run and ((cfg.max_records and count > cfg.max_records) or (cfg.max_size and total > cfg.max_size)):
        log.warning("retention limits not met: the remaining records are the first or latest of their signature")
    return removed
