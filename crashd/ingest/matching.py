"""Which pstore crash and which capture are one crash (one ``kdump+pstore`` record).

pstore carries no boot id, so a pstore dump joins a capture when

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

import hashlib
import os
from dataclasses import dataclass

from crashd.crashlog.summary import CrashSummary, summarize
from crashd.ingest.pstore import PstoreCrash
from crashd.ingest.sources import Capture

__all__ = ["MATCH_WINDOW", "Plan", "agree", "match", "plan_records", "pstore_key"]

MATCH_WINDOW = 600.0


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


def pstore_key(crash: PstoreCrash) -> str:
    h = hashlib.sha256()
    for f in crash.files:
        h.update(os.fsencode(f.stored_name) + b"\0" + hashlib.sha256(f.raw).digest())  # names need not be UTF-8
    return "pstore-" + h.hexdigest()[:16]


def agree(a: CrashSummary | None, b: CrashSummary | None) -> bool:
    """Two views of one crash: their crash lines must not contradict each other."""
    if a is None or b is None or a.message is None or b.message is None:
        return True
    return a.message == b.message


def match(crash: PstoreCrash, ps: CrashSummary, cap: Capture, prev_boot: str | None, prev_time: float | None) -> int:
    """0 = not the same crash; higher = stronger evidence (see the module docstring)."""
    cs = cap.summary
    if cs is not None and cs.message and ps.message == cs.message and ps.timestamp is not None:
        if ps.timestamp == cs.timestamp:
            return 3
    if not agree(ps, cs):
        return 0
    t = crash.time
    if prev_boot and cap.crashed_boot_id == prev_boot and (prev_time is None or t is None or t >= prev_time - 60):
        return 2
    if cap.crash_time and t and abs(cap.crash_time - t) <= MATCH_WINDOW:
        return 1
    return 0


def plan_records(
    captures: list[Capture], crashes: list[PstoreCrash], prev_boot: str | None, prev_time: float | None
) -> list[Plan]:
    """One plan per capture (with the pstore crashes that are the same crash), one per pstore crash left."""
    summaries = {id(c): summarize(c.text()) for c in crashes}
    plans = {cap.path: Plan(cap.mark, cap, []) for cap in captures}
    alone: list[Plan] = []
    for crash in crashes:
        ps = summaries[id(crash)]
        best: tuple[int, Capture] | None = None
        for cap in captures:
            score = match(crash, ps, cap, prev_boot, prev_time)
            if score and (best is None or score > best[0]):
                best = (score, cap)
        if best is not None:
            plans[best[1].path].pstore.append(crash)
        else:
            alone.append(Plan(pstore_key(crash), None, [crash]))
    return [*plans.values(), *alone]
