"""Composing one crash record: its files in a staging directory and its ``metadata.json``.

What goes in is copied (pstore, capture.json, dmesg.txt) or moved (the dump,
last: the step that takes data out of the spool); ``metadata.json`` says where
each part came from and what it lacks. Publishing and clean-up belong to the
orchestrator (``crashd.ingest.run``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os

from crashd.capture.spool import CAPTURE_JSON, DMESG_FILE
from crashd.crashlog.summary import CrashSummary, summarize
from crashd.ingest.matching import Plan
from crashd.ingest.schema import PstoreSource, RecordMetadata, VmcoreSource
from crashd.ingest.sources import kernel_version, remote_location, stored_name
from crashd.ingest.store import Staging

__all__ = ["SCHEMA", "SPACE_MARGIN", "compose", "iso", "needed_bytes", "plan_bytes", "record_summary"]

SCHEMA = 1
# Bytes kept free beyond what the new records need (metadata, directory blocks).
SPACE_MARGIN = 1 << 20


def _utc(ts: float | None) -> dt.datetime | None:
    """A time from the crashed machine, or None when it is not one (``datetime`` covers years 1-9999)."""
    if ts is None or ts <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, dt.UTC)
    except (ValueError, OverflowError, OSError):
        return None


def iso(ts: float | None) -> str | None:
    when = _utc(ts)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def _spool_time(stamp: str) -> float | None:
    """The capture directory's stamp; None when it is not a real date (``99999999T999999``)."""
    try:
        return dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def plan_bytes(plan: Plan) -> int:
    """What the record will hold (for retention's size limits)."""
    total = sum(len(f.raw) for c in plan.pstore for f in c.files)
    if plan.capture:
        for n in plan.capture.dumps:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(plan.capture.path / n).st_size
    return total


def needed_bytes(plan: Plan, store_dev: int) -> int:
    """New space in the store the record needs: a dump renamed within one file system
    needs none, one copied across needs its allocated blocks (holes stay holes), not its size."""
    needed = sum(len(f.raw) for c in plan.pstore for f in c.files)
    if plan.capture:
        for n in [DMESG_FILE, CAPTURE_JSON, *plan.capture.dumps]:
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(plan.capture.path / n)
                if n in (DMESG_FILE, CAPTURE_JSON):
                    needed += st.st_size
                elif st.st_dev != store_dev:
                    needed += st.st_blocks * 512
    return needed


def record_summary(plan: Plan) -> CrashSummary:
    """The dump's log tells most; pstore's text stands in when it has nothing."""
    summary = plan.capture.summary if plan.capture and plan.capture.summary else CrashSummary()
    if summary.kind == "unknown" and plan.pstore:  # e.g. a dump cut short before the log
        summary = summarize("".join(c.text() for c in plan.pstore))
    return summary


def compose(plan: Plan, staging: Staging, now: float) -> tuple[str, RecordMetadata]:
    """Fill ``staging`` with the record's files and ``metadata.json``; return its name and metadata.

    Everything that can be decided from what was read is decided first: the dump
    is moved out of the spool only when nothing but the disk can fail any more."""
    cap = plan.capture
    pstore_text = "".join(c.text() for c in plan.pstore)
    summary = record_summary(plan)
    warnings: list[str] = []
    crash_time: float | None = None
    if cap is not None and cap.crash_time:
        if _utc(cap.crash_time) is not None:
            crash_time = cap.crash_time
        else:
            warnings.append(f"CRASHTIME {cap.crash_time} is not a date; ignored")
    if crash_time is None and plan.pstore:
        times = [c.time for c in plan.pstore if _utc(c.time) is not None]
        crash_time = int(min(t for t in times if t is not None)) if times else None
    stamp_ts = crash_time
    if stamp_ts is None and cap is not None:
        stamp_ts = _spool_time(cap.stamp)
    when = _utc(stamp_ts) or _utc(now) or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    ident = hashlib.sha256(plan.key.encode()).hexdigest()[:8]
    name = f"{when.strftime('%Y%m%dT%H%M%S')}-{plan.kind}-{ident}"
    complete = cap.complete if cap else all(not c.missing_parts and c.parts for c in plan.pstore)
    kernel = (
        cap.kernel
        if cap
        else {
            "machine": None,
            "page_size": None,
            "release": summary.release,
            "version": kernel_version(pstore_text),
        }
    )
    if cap and not kernel.get("release"):
        kernel["release"] = summary.release
    vm_source: VmcoreSource | None = None
    if cap is not None:
        vm_source = VmcoreSource(**(cap.dump_meta or {"complete": None, "file": None, "format": None, "warnings": []}))
        vm_source["spool"] = cap.key
        location = remote_location(cap.info or {})
        if location:
            vm_source["location"] = location
        vm_source["spool_digest"] = cap.digest
        extra = list(warnings)
        if cap.interrupted:
            extra.append("capture directory still marked .incomplete")
        if cap.info_problem:
            extra.append(cap.info_problem)
        vm_source["warnings"] = [*vm_source.get("warnings", []), *extra]
    pstore_entries: list[PstoreSource] = [
        {
            "backend": crash.backend,
            "compression": sorted({f.compression for f in crash.parts}) or None,
            "ecc": next((f.ecc for f in crash.parts if f.ecc), None),
            "missing_parts": crash.missing_parts,
            "name": crash.parts[-1].name.name if crash.parts else crash.extras[0].name.name,
            "files": [f.stored_name for f in crash.files],
            "part_count": len(crash.parts),
            "reason": crash.reason,
            "time": iso(crash.time),
        }
        for crash in plan.pstore
    ]
    for crash in plan.pstore:
        for f in crash.files:
            staging.write_bytes(f"pstore/{f.stored_name}", f.raw)
    if cap is not None:
        if (cap.path / CAPTURE_JSON).is_file():
            staging.copy_file(cap.path / CAPTURE_JSON, CAPTURE_JSON)
        spool_dmesg = cap.path / DMESG_FILE
        if spool_dmesg.is_file() and spool_dmesg.stat().st_size > 0:
            staging.copy_file(spool_dmesg, DMESG_FILE)
        elif cap.dmesg:
            staging.write_bytes(DMESG_FILE, cap.dmesg.encode())
        elif pstore_text:
            staging.write_bytes(DMESG_FILE, pstore_text.encode())
        for n in cap.dumps:  # last: the step that takes data out of the spool
            staging.move_file(cap.path / n, stored_name(n))
    elif pstore_text:
        staging.write_bytes(DMESG_FILE, pstore_text.encode())
    meta: RecordMetadata = {
        "schema": SCHEMA,
        "id": ident,
        "kind": plan.kind,
        "complete": bool(complete),
        "crash_time": iso(crash_time),
        "ingested_at": iso(now),
        "crashed_boot_id": cap.crashed_boot_id if cap else None,
        "kernel": kernel,
        "panic": summary.to_dict(),
        "signature": summary.signature,
        "sources": {"vmcore": vm_source, "pstore": pstore_entries},
        "files": staging.files(),
        "capture": cap.info if cap else None,
    }
    staging.write_json("metadata.json", meta)
    return name, meta
