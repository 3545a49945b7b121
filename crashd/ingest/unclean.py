"""``unclean-reset`` records: an armed boot that ended without a clean shutdown and saved nothing.

When the capture kernel cannot run (a reservation too small for it, a broken
initrd, a hardware watchdog reset, a hard lockup with interrupts off, a power
loss) no dump and no pstore record is left, and the only trace is in the boot
ledger (``crashd.core.bootledger``): the daemon noted the boot armed and never
noted an orderly shutdown. At the next boot, after the dumps and pstore records
are in, each such boot becomes a record of its own kind: no dump; the last lines
of that boot's journal, what crashd knew of its readiness then, and the likely
reasons — each said as a possibility, since nothing here can tell which it was.

A boot is left alone when it ended cleanly (``ended`` set), is this boot, or has
evidence: a record holding a capture of it (``crashed_boot_id``), a capture of it
still in the spool (its directory name carries the boot id's first 8 digits), or
— for the latest armed boot before this one — a pstore record or a capture that
names no boot, made in this run (pstore entries are written by the crash before
the reboot that reads them). Once decided, the boot's entry says so
(``handled``), so it is never decided twice; the record is built in a staging
directory named after the boot and published by one rename, and a record already
holding the boot id counts as handled, so a run killed at any step makes exactly
one record on the rerun.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from crashd.capture.spool import NAME_RE as SPOOL_NAME
from crashd.capture.spool import spool_path
from crashd.core.bootledger import BootEntry, current_boot_id, read_entries, write_entry
from crashd.core.errors import ToolError
from crashd.core.hostinfo import read_identity
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.settings import setting
from crashd.core.tools import ToolRunner
from crashd.crashlog.summary import CrashSummary
from crashd.ingest.journal_fields import record_fields
from crashd.ingest.printable import printable
from crashd.ingest.schema import RecordMetadata, UncleanSource
from crashd.ingest.store import Checkpoint, Record, Staging, _no_checkpoint, list_records

__all__ = ["JOURNAL_FILE", "JOURNAL_LIMIT", "JOURNAL_LINES", "JOURNAL_TIMEOUT", "KIND", "journal_tail",
           "likely_reasons", "log", "spool_boots", "unclean_resets"]

log = logging.getLogger(__name__)

KIND = "unclean-reset"
JOURNAL_FILE = "journal.txt"
JOURNAL_LINES = 50
JOURNAL_TIMEOUT = 30.0  # seconds; a journal on a dying disk must not hold up the boot's ingest
JOURNAL_LIMIT = 256 << 10  # bytes kept of journalctl's output
SCHEMA = 1


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spool_boots(paths: HostPaths, spool: Path | None) -> set[str]:
    """The boot-id prefixes (8 hex digits) of every capture directory in the spool (and in the
    root file system's default one, where a capture keeps its dmesg.txt when the target failed),
    readable or not: a capture this run could not ingest is still that boot's evidence."""
    out: set[str] = set()
    default = paths.host(setting("capture", "target").default)
    dirs = [spool_path(default), default] + ([spool_path(spool), spool] if spool is not None else [])
    for where in dirs:
        with contextlib.suppress(OSError):
            for name in os.listdir(where):
                m = SPOOL_NAME.match(name)
                if m and m["boot"] != "unknown0":
                    out.add(m["boot"])
    return out


def journal_tail(paths: HostPaths, tools: ToolRunner, boot: str) -> tuple[str | None, str | None]:
    """(the boot's last journal lines, or None; why there are none). Bounded in lines,
    time and bytes; under ``--root`` the journal files below the root are read."""
    argv = ["journalctl", "-b", boot, "-n", str(JOURNAL_LINES), "-o", "short-monotonic", "--no-pager"]
    if os.path.realpath(paths.root) != "/":
        argv += ["--root", str(paths.root)]
    try:
        result = tools.run(argv, timeout=JOURNAL_TIMEOUT)
    except ToolError as exc:
        return None, printable(f"the journal of boot {boot} could not be read: {exc}")
    if not result.ok:
        why = next((line for line in result.stderr.splitlines() if line.strip()), f"journalctl exited {result.returncode}")
        return None, printable(f"the journal of boot {boot} is not available: {why}")
    text = result.stdout
    if not text.strip() or text.strip() == "-- No entries --":
        return None, f"the journal holds no entries of boot {boot} (a volatile journal, or rotated away)"
    if len(text.encode()) > JOURNAL_LIMIT:
        text = text.encode()[-JOURNAL_LIMIT:].decode("utf-8", "ignore")
        text = text.split("\n", 1)[-1]  # from the first whole line
    return text, None


def likely_reasons(entry: BootEntry) -> list[str]:
    """What may have happened, most likely first; each a possibility, never a finding."""
    ready = entry["readiness"]
    needed, reserved = ready.get("needed_mib"), ready.get("reserved_mib")
    degraded = [d for d in ready.get("degraded") or [] if isinstance(d, dict)]
    reasons = []
    short = any(d.get("name") == "capture_memory" for d in degraded) or (
        isinstance(needed, int) and isinstance(reserved, int) and reserved and needed > reserved)
    if short:
        figures = (f": crashd estimated it needs ~{needed} MiB and {reserved} MiB were reserved"
                   if isinstance(needed, int) and isinstance(reserved, int) else "")
        reasons.append(f"the capture kernel may have run out of memory{figures} "
                       "(a larger crashkernel=; see 'crashd estimate')")
    for d in degraded:
        if d.get("name") != "capture_memory":
            reasons.append(f"the capture may have failed: {printable(str(d.get('title') or d.get('reason')))}")
    reasons += [
        "the capture kernel may have failed to boot (a broken initrd or command line; "
        "'crashd test --crash' checks the whole path)",
        "a hardware watchdog may have reset the machine, or a hard lockup with interrupts off may have "
        "stopped it before a panic could start the capture kernel",
        "the power may have been lost, or the machine reset from outside (a hypervisor, the reset button)",
    ]
    return reasons


def _evidence(records: Iterable[Record]) -> dict[str, tuple[str, str]]:
    """boot id → (outcome, record) for every record that covers a boot."""
    out: dict[str, tuple[str, str]] = {}
    for rec in records:
        meta = rec.metadata or {}
        boot = meta.get("crashed_boot_id")
        if isinstance(boot, str) and boot:
            kind = meta.get("kind")
            out.setdefault(boot, (KIND if kind == KIND else "capture", rec.name))
    return out


def unclean_resets(
    paths: HostPaths,
    journal: Journal,
    tools: ToolRunner,
    now: float,
    *,
    spool: Path | None,
    created: list[str],
    pstore: bool,
    checkpoint: Checkpoint = _no_checkpoint,
) -> list[str]:
    """Decide every previous armed boot not yet decided; returns the records made.

    ``created``: the records this run made; ``pstore``: this run read pstore crashes
    (stored or not). Call it after those are in, with the store locked."""
    boot_now = current_boot_id(paths)
    if boot_now is None:  # this boot's own entry could not be told from a previous one
        log.warning("no boot id: previous boots are not checked for an unclean end")
        return []
    entries = [e for e in read_entries(paths) if e["boot_id"] != boot_now]
    if not entries:
        return []
    records = list_records(paths)
    covered = _evidence(records)
    in_spool = spool_boots(paths, spool)
    # what this run found that names no boot belongs to the boot just before this one
    unnamed = pstore or any(not (r.metadata or {}).get("crashed_boot_id") for r in records if r.name in created)
    fresh = next((r.name for r in records if r.name in created), None)
    latest = entries[-1]["boot_id"]
    made = []
    for entry in entries:
        boot = entry["boot_id"]
        if entry["handled"] is not None or entry["ended"] is not None:
            continue
        if boot in covered:
            _handled(paths, entry, now, *covered[boot], checkpoint)
        elif boot[:8] in in_spool:
            log.info("boot %s: a capture of it is still in the spool; decided once it is stored", boot)
        elif boot == latest and unnamed:
            _handled(paths, entry, now, "pstore" if pstore else "capture", fresh, checkpoint)
        else:
            name = _write(paths, entry, journal, tools, now, checkpoint)
            made.append(name)
            _handled(paths, entry, now, KIND, name, checkpoint)
    return made


def _handled(paths: HostPaths, entry: BootEntry, now: float, outcome: str, record: str | None,
             checkpoint: Checkpoint) -> None:
    entry["handled"] = {"at": _iso(now), "outcome": outcome, "record": record}
    write_entry(paths, entry)
    checkpoint(f"handled {entry['boot_id']}")


def _record_name(entry: BootEntry, key: str, now: float) -> str:
    """Named for when the boot was armed (the crash time is unknown): the same on every rerun."""
    try:
        when = dt.datetime.fromisoformat(entry["armed_at"]).astimezone(dt.UTC)
    except (ValueError, TypeError, OverflowError):
        when = dt.datetime.fromtimestamp(now, dt.UTC)
    return f"{when.strftime('%Y%m%dT%H%M%S')}-{KIND}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _write(paths: HostPaths, entry: BootEntry, journal: Journal, tools: ToolRunner, now: float,
           checkpoint: Checkpoint) -> str:
    boot = entry["boot_id"]
    key = f"unclean-{boot}"
    name = _record_name(entry, key, now)
    ready = entry["readiness"]
    release = printable(entry["release"], 128) or None
    reasons = likely_reasons(entry)
    staging = Staging(paths.crash_store, key, checkpoint)
    text, note = journal_tail(paths, tools, boot)
    if text is not None:
        staging.write_bytes(JOURNAL_FILE, text.encode())
    unclean: UncleanSource = {
        "boot_id": boot,
        "release": release,
        "reserved": entry["reserved"] if isinstance(entry["reserved"], int) else None,
        "armed_at": entry["armed_at"],
        "readiness": printable(ready.get("summary") or "armed", 1024),
        "degraded": [d for d in ready.get("degraded") or [] if isinstance(d, dict)],
        "needed_mib": ready.get("needed_mib") if isinstance(ready.get("needed_mib"), int) else None,
        "summary": (f"Boot {boot} ({release or 'unknown kernel'}) was armed for kdump but did not end with a "
                    "clean shutdown, and nothing was saved from it: the capture kernel did not run, or ran "
                    "and could not save anything."),
        "likely_reasons": reasons,
        "journal": JOURNAL_FILE if text is not None else None,
        "journal_note": note,
    }
    meta: RecordMetadata = {
        "schema": SCHEMA,
        "id": name.rsplit("-", 1)[-1],
        "kind": KIND,
        "complete": False,
        "crash_time": None,
        "ingested_at": _iso(now),
        "crashed_boot_id": boot,
        "kernel": {"machine": None, "page_size": None, "release": release, "version": None},
        "panic": CrashSummary().to_dict(),
        "signature": None,
        "sources": {"vmcore": None, "pstore": [], "unclean": unclean},
        "files": staging.files(),
        "capture": None,
    }
    staging.write_json("metadata.json", meta)
    staging.publish(name)
    log.info("created crash record %s (boot %s did not end cleanly)", name, boot)
    journal.event(
        "record_created",
        f"Boot {boot} did not end cleanly and left no crash dump or pstore record; recorded as {name} "
        f"({KIND}; readiness then: {unclean['readiness']}; {reasons[0]})",
        priority=5,
        **record_fields(name, dict(meta), read_identity(paths)),
    )
    return name
