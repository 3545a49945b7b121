"""The structured fields of a ``record_created`` journal entry: what a fleet reads.

Every new record is one journal entry with ``MESSAGE_ID=`` :data:`RECORD_MESSAGE_ID`
and the ``CRASHD_*`` fields below, so ``systemd-journal-upload`` →
``systemd-journal-remote`` carries each machine's crashes to a collector where
``crashd list --journal`` counts them per signature across hosts
(:mod:`crashd.ingest.fleet_journal` reads them back). journald adds the trusted
``_HOSTNAME``, ``_MACHINE_ID`` and ``_BOOT_ID`` itself; ``CRASHD_HOST`` and
``CRASHD_MACHINE_ID`` are crashd's own reading (:mod:`crashd.core.hostinfo`),
so the fields mean the same in a journal exported, merged or re-imported elsewhere.

Values from the crashed kernel (the panic line) are made printable first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crashd.core.hostinfo import HostIdentity
from crashd.core.journal import MESSAGE_IDS
from crashd.ingest.printable import printable

__all__ = ["FIELDS", "RECORD_MESSAGE_ID", "record_fields"]

RECORD_MESSAGE_ID = MESSAGE_IDS["record_created"]
# journal field (without CRASHD_) -> what it holds; the catalog entry lists the same.
FIELDS = {
    "RECORD": "the record's name in /var/lib/crash",
    "SIGNATURE": "the crash signature (crashes at the same place share it)",
    "KERNEL": "the crashed kernel's release",
    "KIND": "the record kind: kdump, pstore, kdump+pstore, unclean-reset",
    "PANIC": "the panic line",
    "PANIC_KIND": "panic, oops, bug, warning, lockup, hung_task, sysrq, mce, unknown",
    "CRASH_TIME": "when the kernel crashed (UTC, ISO 8601), when known",
    "BOOT_ID": "the boot that crashed",
    "COMPLETE": "yes when the record holds a whole dump",
    "HOST": "the machine's hostname",
    "MACHINE_ID": "the machine's /etc/machine-id",
}


def record_fields(name: str, meta: Mapping[str, Any], identity: HostIdentity) -> dict[str, object]:
    """``Journal.event`` keyword fields for the new record ``name`` (None values are left out)."""
    panic = meta.get("panic") or {}
    kernel = meta.get("kernel") or {}
    return {
        "record": name,
        "signature": meta.get("signature"),
        "kernel": printable(kernel.get("release"), 128) or None,
        "kind": meta.get("kind"),
        "panic": printable(panic.get("message"), 1024) or None,
        "panic_kind": panic.get("kind") if panic.get("message") else None,
        "crash_time": meta.get("crash_time"),
        "boot_id": meta.get("crashed_boot_id"),
        "complete": "yes" if meta.get("complete") else "no",
        "host": identity.hostname,
        "machine_id": identity.machine_id,
    }
