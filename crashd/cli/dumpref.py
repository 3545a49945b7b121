"""What ``crashd debug`` and ``crashd analyze`` are pointed at: a record ID or a dump file.

An argument naming an existing file (it contains ``/``, or exists as given) is a dump; anything
else is a record, resolved through the store as ``crashd show`` resolves it. A record's dump is
its ``sources.vmcore.file``; a symlink in its place is refused when opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crashd.core.errors import CrashdError
from crashd.core.paths import HostPaths

__all__ = ["DumpRef", "NoDumpError", "resolve_dump"]


class NoDumpError(CrashdError):
    """The record has no dump (pstore only, dmesg only, or the dump is on a dump server)."""

    exit_code = 3


@dataclass(frozen=True)
class DumpRef:
    dump: Path
    record: Path | None  # the record directory, None for a bare dump file
    meta: dict[str, Any]


def resolve_dump(paths: HostPaths, ident: str) -> DumpRef:
    from crashd.cli.select import resolve
    from crashd.ingest.store import read_metadata

    if "/" in ident or os.path.isfile(ident):
        path = Path(ident)
        if path.is_dir():
            return _of_record(path, read_metadata(path))
        return DumpRef(path, None, {})
    record = resolve(paths, ident)  # name, prefix, id suffix, last, -1 … as every verb takes them
    return _of_record(record, read_metadata(record))


def _of_record(record: Path, meta: dict[str, Any]) -> DumpRef:
    vm = (meta.get("sources") or {}).get("vmcore") or {}
    name = vm.get("file")
    if not name:
        where = f" (it is on the dump server: {vm['location']})" if vm.get("location") else ""
        raise NoDumpError(f"{record.name}: the record holds no dump{where}")
    if "/" in str(name) or name in (".", ".."):
        raise CrashdError(f"{record.name}: metadata.json names the dump {name!r}, not a file of the record")
    return DumpRef(record / str(name), record, meta)
