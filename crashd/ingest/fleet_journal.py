"""The fleet view from journals: crash records of every machine, counted per signature.

Each machine journals one ``record_created`` entry per crash record, with the
``CRASHD_*`` fields of :mod:`crashd.ingest.journal_fields`. Shipped with
``systemd-journal-upload`` to a collector running ``systemd-journal-remote``,
those entries sit in the collector's journal files (``/var/log/journal/remote/``).
This module reads them back through ``journalctl -o json`` (the tool seam; no
journal library), matching the one MESSAGE_ID, and groups them.

``journalctl -o json`` shapes (journalctl(1), "json"): a field's value is a string;
a value that is not valid UTF-8 (or holds control characters other than newline
and tab) is an array of byte values; a field present more than once is an array
of its values (each a string or a byte array). A value over 4096 bytes is ``null``
unless ``--all`` is given, which we pass. Every field is the machine's word about
itself, so each is cleaned (:func:`crashd.ingest.printable.printable`,
:func:`crashd.core.hostinfo.clean_hostname`) and a line that is not a JSON object
is counted as a problem, never fatal.

The same record can be seen twice (a journal file copied next to the collector's,
``--merge`` of local and remote files): an entry is one crash per machine and
record name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from crashd.core.errors import CrashdError, ToolError
from crashd.core.hostinfo import clean_hostname, clean_machine_id
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from crashd.ingest.journal_fields import RECORD_MESSAGE_ID
from crashd.ingest.printable import printable

__all__ = [
    "FleetCrash",
    "FleetView",
    "JOURNALCTL_TIMEOUT",
    "JournalReadError",
    "field_text",
    "journalctl_argv",
    "parse_entries",
    "read_journal",
    "summarize_fleet",
]

JOURNALCTL_TIMEOUT = 300.0  # a collector's journals may hold years of many machines
_MAX_PROBLEMS = 20


class JournalReadError(CrashdError):
    """journalctl could not read what was asked (no such file, not a journal)."""


@dataclass(frozen=True)
class FleetCrash:
    """One crash record, as its machine journaled it."""

    host: str | None
    machine_id: str | None
    record: str
    signature: str | None
    kernel: str | None
    kind: str | None
    panic: str | None
    panic_kind: str | None
    crash_time: str | None
    logged_at: str | None  # when the entry was journaled (UTC), __REALTIME_TIMESTAMP
    complete: bool | None
    location: str | None = None  # where the dump is (a spool view on the dump server)

    @property
    def time(self) -> str:
        return self.crash_time or self.logged_at or ""


@dataclass
class FleetView:
    crashes: list[FleetCrash] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0  # entries that could not be used (counted; the first few are in problems)

    def signatures(self) -> list[dict[str, Any]]:
        """Per signature: how many crashes, on which hosts, first and last, one panic line;
        most frequent first."""
        groups: dict[str, list[FleetCrash]] = {}
        for c in self.crashes:
            groups.setdefault(c.signature or "-", []).append(c)
        out: list[dict[str, Any]] = []
        for sig, crashes in groups.items():
            hosts = sorted({_host_label(c) for c in crashes})
            times = sorted(c.time for c in crashes if c.time)
            out.append({
                "signature": None if sig == "-" else sig,
                "count": len(crashes),
                "hosts": hosts,
                "host_count": len(hosts),
                "first": times[0] if times else None,
                "last": times[-1] if times else None,
                "kernels": sorted({c.kernel for c in crashes if c.kernel}),
                "panic": next((c.panic for c in crashes if c.panic), None),
            })
        out.sort(key=lambda g: (-int(g["count"]), -int(g["host_count"]), str(g["signature"] or "")))
        return out

    def hosts(self) -> list[dict[str, Any]]:
        groups: dict[tuple[str | None, str | None], list[FleetCrash]] = {}
        for c in self.crashes:
            groups.setdefault((c.host, c.machine_id), []).append(c)
        out = [{"host": h, "machine_id": m, "count": len(cs), "signatures": len({c.signature for c in cs}),
                "last": max((c.time for c in cs), default=None) or None}
               for (h, m), cs in groups.items()]
        out.sort(key=lambda g: (g["host"] or "", g["machine_id"] or ""))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "crashes": [asdict(c) for c in self.crashes],
            "signatures": self.signatures(),
            "hosts": self.hosts(),
            "skipped": self.skipped,
            "problems": self.problems,
        }


def _host_label(c: FleetCrash) -> str:
    return c.host or (f"machine {c.machine_id[:8]}" if c.machine_id else "unknown host")


def field_text(value: object) -> str | None:
    """A journalctl JSON field value as text: a string as is; a byte array decoded as
    UTF-8 (what cannot be decoded shown as U+FFFD); a repeated field's first value."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
            return bytes(value).decode("utf-8", "replace")
        for item in value:  # a repeated field: the first usable value
            text = field_text(item)
            if text is not None:
                return text
    return None


def _printable(entry: dict[str, Any], key: str, limit: int = 512) -> str | None:
    return printable(field_text(entry.get(key)), limit) or None


def _realtime(entry: dict[str, Any]) -> str | None:
    raw = field_text(entry.get("__REALTIME_TIMESTAMP"))
    if raw is None or not raw.isdigit():
        return None
    try:
        return dt.datetime.fromtimestamp(int(raw) / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return None


def crash_from_entry(entry: dict[str, Any]) -> FleetCrash | None:
    """The crash an entry describes; None when it is not a record_created entry with a record."""
    if field_text(entry.get("MESSAGE_ID")) != RECORD_MESSAGE_ID:
        return None
    record = _printable(entry, "CRASHD_RECORD", 255)
    if not record:
        return None
    host = clean_hostname(field_text(entry.get("CRASHD_HOST")))
    if host is None:
        host = clean_hostname(field_text(entry.get("_HOSTNAME")))
    machine_id = clean_machine_id(field_text(entry.get("CRASHD_MACHINE_ID")))
    if machine_id is None:
        machine_id = clean_machine_id(field_text(entry.get("_MACHINE_ID")))
    complete = field_text(entry.get("CRASHD_COMPLETE"))
    return FleetCrash(
        host=host,
        machine_id=machine_id,
        record=record,
        signature=_printable(entry, "CRASHD_SIGNATURE", 128),
        kernel=_printable(entry, "CRASHD_KERNEL", 128),
        kind=_printable(entry, "CRASHD_KIND", 64),
        panic=_printable(entry, "CRASHD_PANIC", 1024) or _message_panic(entry),
        panic_kind=_printable(entry, "CRASHD_PANIC_KIND", 64),
        crash_time=_printable(entry, "CRASHD_CRASH_TIME", 64),
        logged_at=_realtime(entry),
        complete=None if complete is None else complete == "yes",
    )


def _message_panic(entry: dict[str, Any]) -> str | None:
    """Entries of crashd versions before CRASHD_PANIC: the panic line is in MESSAGE
    ("… recorded as <record>: <panic line> (<kind>, signature …)")."""
    message = field_text(entry.get("MESSAGE")) or ""
    head, sep, rest = message.partition(" recorded as ")
    if not sep or ": " not in rest:
        return None
    line = rest.split(": ", 1)[1].rsplit(" (", 1)[0]
    return printable(line, 1024) or None


def parse_entries(lines: Iterable[str]) -> FleetView:
    """``journalctl -o json`` output (one JSON object per line) → the fleet view."""
    view = FleetView()
    seen: set[tuple[str, str]] = set()
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            _problem(view, f"journal entry {n}: not JSON ({exc.__class__.__name__})")
            continue
        if not isinstance(entry, dict):
            _problem(view, f"journal entry {n}: not a JSON object")
            continue
        crash = crash_from_entry(entry)
        if crash is None:
            _problem(view, f"journal entry {n}: not a crashd record entry (no CRASHD_RECORD)")
            continue
        key = (crash.machine_id or crash.host or "", crash.record)
        if key in seen:
            continue
        seen.add(key)
        view.crashes.append(crash)
    view.crashes.sort(key=lambda c: (c.time, c.host or "", c.record))
    return view


def _problem(view: FleetView, text: str) -> None:
    view.skipped += 1
    if len(view.problems) < _MAX_PROBLEMS:
        view.problems.append(text)


def journalctl_argv(paths: HostPaths, directory: str | None = None, files: Sequence[str] = ()) -> list[str]:
    """``journalctl`` reading one journal directory or the given files (as given: they are
    the collector's, named on the command line), else every journal of this machine, the
    remote ones included (``--merge``), under ``--root``. journalctl takes one
    ``--directory`` and no ``--directory`` with ``--file``: :func:`read_journal` runs it
    once per directory and once for the files."""
    argv = ["journalctl", "--output=json", "--all", "--no-pager", "--quiet"]
    if directory is not None:
        argv.append(f"--directory={directory}")
    elif files:
        argv += [f"--file={f}" for f in files]
    else:
        argv.append("--merge")
        if os.path.realpath(paths.root) != "/":
            argv.append(f"--root={paths.root}")
    return [*argv, f"MESSAGE_ID={RECORD_MESSAGE_ID}"]


def read_journal(tools: ToolRunner, paths: HostPaths, directories: Sequence[str] = (),
                 files: Sequence[str] = (), timeout: float = JOURNALCTL_TIMEOUT) -> FleetView:
    """Run journalctl (once per directory, once for the files) and parse what it printed.
    A source that cannot be read is a problem and the others are still read; raises
    :class:`JournalReadError` only when nothing could be read. Warnings journalctl printed
    while reading the rest (a truncated file it ignored) become problems too."""
    runs: list[tuple[str, list[str]]] = []
    failed: list[str] = []
    for d in directories:
        if not os.path.isdir(d):
            failed.append(f"{d}: not a directory of journal files")
        else:
            runs.append((d, journalctl_argv(paths, d)))
    present = []
    for f in files:  # journalctl accepts globs: a pattern is checked by journalctl itself
        if os.path.exists(f) or any(ch in f for ch in "*?["):
            present.append(f)
        else:
            failed.append(f"{f}: no such journal file")
    if present:
        runs.append((", ".join(present), journalctl_argv(paths, files=present)))
    if not directories and not files:
        runs.append(("the journal", journalctl_argv(paths)))
    out: list[str] = []
    notes: list[str] = []
    read = 0
    for what, argv in runs:
        try:
            result = tools.run(argv, timeout=timeout)
        except ToolError as exc:
            failed.append(f"{what}: cannot read the journal: {exc}")
            continue
        stderr = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        if not result.ok and not result.stdout.strip():
            if not any("No entries" in line for line in stderr):  # newer journalctl: exit 1 when nothing matches
                failed.append(f"{what}: journalctl failed: "
                              + (printable(stderr[-1]) if stderr else f"exit {result.returncode}"))
            continue
        read += 1
        out += result.stdout.splitlines()
        notes += [f"journalctl: {printable(line)}" for line in stderr if "No entries" not in line]
    if failed and not read:
        raise JournalReadError("; ".join(failed))
    view = parse_entries(out)
    view.problems[:0] = [*failed, *notes]
    return view


def summarize_fleet(view: FleetView) -> dict[str, Any]:
    """The counts a person reads first: crashes, machines, distinct signatures."""
    return {"crashes": len(view.crashes), "hosts": len(view.hosts()), "signatures": len(view.signatures())}
