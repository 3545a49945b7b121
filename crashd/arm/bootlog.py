"""The daemon's half of "no crash goes unnoticed": note each armed boot and how it ended.

A crash the capture kernel cannot save leaves nothing behind but a boot that
never shut down. So, in the boot ledger (``crashd.core.bootledger``):

- every successful arm writes (or refreshes) this boot's entry: boot id, kernel
  release, reservation, first arm time, and what readiness said (``armed`` or
  ``armed, but …`` with the degraded checks and the memory estimate);
- SIGTERM marks it ended. How "ended cleanly" is known: systemd stops
  crashd.service during an orderly reboot, poweroff, halt or kexec, and then the
  manager's state (``systemctl is-system-running``) is ``stopping``; when systemctl
  cannot say, a scheduled shutdown (``/run/systemd/shutdown/scheduled``) counts.
  Such an end is ``shutdown``. A SIGTERM while the system keeps running (``systemctl
  stop crashd`` by hand) is ``service stopped``: crashd no longer watches that boot,
  so its end is not held against it either way — a later clean poweroff must never
  become a record, and crashd cannot tell one from a reset any more;
- an entry left "armed, not ended" is what ingest at the next boot calls unclean.

Nothing here may stop the daemon: every failure is logged and swallowed.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from crashd.arm.kexec import crash_size
from crashd.arm.readiness import Readiness
from crashd.core.bootledger import (
    BOOT_ID_RE,
    KEEP_BOOTS,
    SCHEMA,
    BootEntry,
    BootReadiness,
    current_boot_id,
    read_entries,
    read_entry,
    remove_entry,
    write_entry,
)
from crashd.core.errors import CrashdError, ToolError
from crashd.core.fsutil import read_value
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner

__all__ = ["SYSTEMCTL_TIMEOUT", "going_down", "log", "note_armed", "note_disarmed", "note_stopped", "prune", "readiness_of"]

log = logging.getLogger(__name__)

SYSTEMCTL_TIMEOUT = 5.0  # seconds; crashd.service has TimeoutStopSec=2min for the whole stop


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def readiness_of(readiness: Readiness | None) -> BootReadiness:
    """What readiness said, as the ledger keeps it (the degraded checks in full)."""
    if readiness is None:
        return {"summary": "armed", "degraded": [], "needed_mib": None, "reserved_mib": None}
    memory = next((c for c in readiness.checks if c.name == "capture_memory"), None)
    evidence = memory.evidence if memory is not None else {}

    def mib(key: str) -> int | None:
        value = evidence.get(key)
        return value if isinstance(value, int) else None

    return {
        "summary": readiness.degraded_text() or "armed",
        "degraded": [{"name": c.name, "reason": c.reason, "title": c.title, "hint": c.hint,
                      "evidence": dict(c.evidence)} for c in readiness.degraded()],
        "needed_mib": mib("needed_mib"),
        "reserved_mib": mib("reserved_mib"),
    }


def note_armed(paths: HostPaths, readiness: Readiness | None) -> None:
    """This boot is armed: write its entry (first arm) or refresh what readiness says.
    A new boot's first entry also prunes the ledger to :data:`KEEP_BOOTS`."""
    try:
        boot = current_boot_id(paths)
        if boot is None:
            log.warning("no boot id in %s: this boot is not noted as armed", paths.unhost(paths.boot_id))
            return
        old = read_entry(paths, boot)
        entry: BootEntry = {
            "schema": SCHEMA,
            "boot_id": boot,
            "release": read_value(paths.osrelease) or None,
            "capture_release": readiness.boot_files.release if readiness is not None else None,
            "reserved": crash_size(paths),
            "armed_at": old["armed_at"] if old else _now(),
            "updated_at": old["updated_at"] if old else _now(),
            "readiness": readiness_of(readiness),
            "ended": None,
            "handled": None,
        }
        if old == entry:
            return  # re-armed as before: no write (an fsync per hotplug storm is not free)
        entry["updated_at"] = _now()
        write_entry(paths, entry)
        if old is None:
            prune(paths)
    except (OSError, CrashdError) as exc:
        log.error("cannot note this boot as armed in %s: %s", paths.unhost(paths.boot_ledger), exc)


def going_down(paths: HostPaths, tools: ToolRunner) -> tuple[bool, str]:
    """(is the system shutting down, what said so)."""
    state = None
    try:
        # exits non-zero for every state but "running"; the state is on stdout either way
        result = tools.run(["systemctl", "is-system-running"], timeout=SYSTEMCTL_TIMEOUT)
        state = result.stdout.strip().splitlines()[0] if result.stdout.strip() else None
    except ToolError as exc:
        log.debug("systemctl is-system-running: %s", exc)
    if state == "stopping":
        return True, "systemctl is-system-running: stopping"
    scheduled = paths.run("systemd", "shutdown", "scheduled")
    if os.path.isfile(scheduled) and not os.path.islink(scheduled):
        return True, f"{paths.unhost(scheduled)} exists"
    return False, f"systemctl is-system-running: {state}" if state else "the system state is unknown"


def note_stopped(paths: HostPaths, tools: ToolRunner) -> None:
    """SIGTERM: mark this boot's entry ended (``shutdown`` or ``service stopped``)."""
    try:
        boot = current_boot_id(paths)
        entry = read_entry(paths, boot) if boot else None
        if entry is None:
            return  # never armed in this boot: there is nothing to vouch for
        down, evidence = going_down(paths, tools)
        how = "shutdown" if down else "service stopped"
        entry["ended"] = {"at": _now(), "how": how, "evidence": evidence}
        entry["updated_at"] = _now()
        write_entry(paths, entry)
        log.info("boot %s noted as ended: %s (%s)", boot, how, evidence)
    except (OSError, CrashdError) as exc:
        log.error("cannot note the end of this boot in %s: %s", paths.unhost(paths.boot_ledger), exc)


def prune(paths: HostPaths, keep: int = KEEP_BOOTS) -> None:
    """Keep the ``keep`` latest entries; a file that does not parse as one goes too."""
    entries = read_entries(paths)
    keep_names = {f"{e['boot_id']}.json" for e in entries[-keep:]}
    try:
        names = os.listdir(paths.boot_ledger)
    except OSError:
        return
    for name in names:
        if name in keep_names or (name.startswith(".") and name.endswith(".tmp")):
            continue  # a temporary name may be another process's write in flight
        try:
            remove_entry(paths, name)
        except (OSError, CrashdError) as exc:
            log.warning("boot ledger: cannot remove %s: %s", name, exc)
        else:
            boot = name.removesuffix(".json")
            log.debug("boot ledger: pruned %s", boot if BOOT_ID_RE.match(boot) else name)


def note_disarmed(paths: HostPaths, evidence: str) -> None:
    """``crashd disarm``: this boot is no longer armed, so a crash in it is not a capture
    that failed; mark its entry ended (``disarmed``). Arming again reopens it."""
    try:
        boot = current_boot_id(paths)
        entry = read_entry(paths, boot) if boot else None
        if entry is None:
            return  # never armed in this boot
        entry["ended"] = {"at": _now(), "how": "disarmed", "evidence": evidence}
        entry["updated_at"] = _now()
        write_entry(paths, entry)
    except (OSError, CrashdError) as exc:
        log.error("cannot note the disarm of this boot in %s: %s", paths.unhost(paths.boot_ledger), exc)
