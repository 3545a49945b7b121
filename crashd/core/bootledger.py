"""The boot ledger, ``/var/lib/crashd/boots/<boot id>.json``: the one format arm and ingest share.

When the capture kernel cannot run (a reservation too small, a broken initrd, a
hardware watchdog reset, a hard lockup with interrupts off) nothing is saved, and
the only trace of the crash is that the boot did not end cleanly. So the daemon
writes one entry per boot it armed (``crashd.arm.bootlog``) and marks it ended
when systemd stops it during an orderly shutdown; ingest at the next boot
(``crashd.ingest.unclean``) reads "armed, never ended" as an unclean end.

Arm and ingest may not import each other, so the format lives here. Each entry is
a JSON sidecar with a schema version, written durably (0600, directory 0700), read
without following symlinks and with a size cap; a foreign or broken file reads as
absent. Only the daemon of a boot writes that boot's entry, and only ingest of a
later boot writes ``handled`` into it, so the two never write one file at once.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any, TypedDict, cast

from crashd.core.errors import UnsafePathError
from crashd.core.fsutil import read_regular, write_durable
from crashd.core.paths import HostPaths

__all__ = [
    "BOOT_ID_RE",
    "BootEnd",
    "BootEntry",
    "BootReadiness",
    "Handled",
    "KEEP_BOOTS",
    "SCHEMA",
    "current_boot_id",
    "ensure_ledger",
    "entry_name",
    "normal_boot_id",
    "read_entries",
    "read_entry",
    "remove_entry",
    "write_entry",
]

SCHEMA = 1
BOOT_ID_RE = re.compile(r"^[0-9a-f]{32}$")
KEEP_BOOTS = 16  # entries kept; the oldest beyond that are pruned when a new boot is armed
_LIMIT = 256 << 10


class BootReadiness(TypedDict):
    """What readiness said when the boot was (last) armed."""

    summary: str  # "armed" or the "armed, but …" line
    degraded: list[dict[str, object]]  # the degraded checks: name, reason, title, hint, evidence
    needed_mib: int | None  # the capture kernel's estimated need (crashd estimate)
    reserved_mib: int | None


class BootEnd(TypedDict):
    at: str  # ISO 8601 UTC
    how: str  # "shutdown" (the system was going down), "service stopped" (it was not), "disarmed" (crashd disarm)
    evidence: str  # what said so ("systemctl is-system-running: stopping")


class Handled(TypedDict):
    at: str
    outcome: str  # "unclean-reset", "capture", "pstore"
    record: str | None  # the record that covers the boot, when one does


class BootEntry(TypedDict):
    schema: int
    boot_id: str  # 32 hex digits
    release: str | None  # uname -r of the armed (crashing) kernel
    capture_release: str | None  # the capture kernel loaded
    reserved: int | None  # bytes (/sys/kernel/kexec_crash_size)
    armed_at: str  # first arm in this boot, ISO 8601 UTC
    updated_at: str
    readiness: BootReadiness
    ended: BootEnd | None  # None: armed and not (yet) stopped — unclean if the boot is over
    handled: Handled | None  # set by ingest of a later boot


def normal_boot_id(text: str | None) -> str | None:
    """``1111aaaa-8c1e-…`` → 32 lowercase hex digits; None for anything else."""
    value = (text or "").strip().replace("-", "").lower()
    return value if BOOT_ID_RE.match(value) else None


def current_boot_id(paths: HostPaths) -> str | None:
    try:
        return normal_boot_id(paths.boot_id.read_text(errors="replace"))
    except OSError:
        return None


def entry_name(boot_id: str) -> str:
    return f"{boot_id}.json"


def _check_dir(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(path, "is a symlink; not followed")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "is not a directory")


def ensure_ledger(paths: HostPaths) -> Path:
    """``/var/lib/crashd/boots``, each level made 0700 if missing; a symlink is refused."""
    ledger = paths.boot_ledger
    for level in (ledger.parent, ledger):
        try:
            os.mkdir(level, 0o700)
        except FileExistsError:
            pass
        _check_dir(level)
        if level == ledger:
            os.chmod(level, 0o700, follow_symlinks=False)
    return ledger


def _valid(data: Any, boot_id: str) -> bool:
    return (isinstance(data, dict) and data.get("schema") == SCHEMA and data.get("boot_id") == boot_id
            and isinstance(data.get("armed_at"), str) and isinstance(data.get("readiness"), dict))


def read_entry(paths: HostPaths, boot_id: str) -> BootEntry | None:
    """One boot's entry; absent, oversized, linked, foreign or broken reads as None."""
    try:
        _check_dir(paths.boot_ledger)
        data: Any = json.loads(read_regular(paths.boot_ledger / entry_name(boot_id), _LIMIT))
    except (OSError, UnsafePathError, ValueError):
        return None
    return cast(BootEntry, data) if _valid(data, boot_id) else None


def read_entries(paths: HostPaths) -> list[BootEntry]:
    """Every readable entry, oldest arm first."""
    try:
        _check_dir(paths.boot_ledger)
        names = os.listdir(paths.boot_ledger)
    except (OSError, UnsafePathError):
        return []
    out = []
    for name in names:
        boot = name.removesuffix(".json")
        if name.endswith(".json") and BOOT_ID_RE.match(boot) and (entry := read_entry(paths, boot)) is not None:
            out.append(entry)
    return sorted(out, key=lambda e: (e["armed_at"], e["boot_id"]))


def write_entry(paths: HostPaths, entry: BootEntry) -> None:
    ledger = ensure_ledger(paths)
    body = (json.dumps(entry, indent=2, sort_keys=True) + "\n").encode()
    write_durable(ledger, entry_name(entry["boot_id"]), body)


def remove_entry(paths: HostPaths, name: str) -> None:
    """Remove one file of the ledger (an old entry, or one that does not parse)."""
    path = paths.boot_ledger / name
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(path, "is a directory")
    os.unlink(path)
