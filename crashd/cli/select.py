"""Which record a person means: the one selection rule of ``show``, ``remove``, ``dmesg`` (and ``debug``).

A record is named, in this order of precedence:

- by its full name (``20261201T183907-kdump-3fa2c1d0``, a trailing ``/`` allowed);
- as ``last`` (the newest) or ``-1``, ``-2``, … (the newest, the one before, …), as
  coredumpctl and journalctl's ``-b -1`` count;
- by a unique prefix of its name, or a unique prefix of its id (the 8 hex digits at the end).

An unknown spec, an ambiguous one (the candidates are listed), or ``-N`` beyond the
store is a :class:`~crashd.core.errors.NotFoundError`: exit 1, one line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from crashd.core.errors import NotFoundError
from crashd.core.paths import HostPaths

__all__ = ["MAX_CANDIDATES", "record_names", "resolve"]

MAX_CANDIDATES = 10  # listed in an "ambiguous" error; more are counted
_NTH = re.compile(r"-([1-9]\d{0,8})")
_HEX = re.compile(r"[0-9a-f]{1,8}")


def record_names(paths: HostPaths) -> list[str]:
    """The published records' names, oldest first (names sort by crash time)."""
    from crashd.ingest.store import RECORD_NAME, store_dir

    try:
        return sorted(n for n in os.listdir(store_dir(paths)) if RECORD_NAME.match(n))
    except FileNotFoundError:
        return []


def _pick(names: list[str], spec: str) -> list[str]:
    if spec in names:
        return [spec]
    if spec == "last":
        return names[-1:]
    nth = _NTH.fullmatch(spec)
    if nth:
        n = int(nth.group(1))
        if n > len(names):
            raise NotFoundError(f"{spec}: only {len(names)} records" if names else f"{spec}: no crash records")
        return [names[-n]]
    by_id = [n for n in names if _HEX.fullmatch(spec) and n.rsplit("-", 1)[-1].startswith(spec)]
    return sorted({*by_id, *(n for n in names if spec and n.startswith(spec))})


def resolve(paths: HostPaths, spec: str) -> Path:
    """The record ``spec`` names (see the module text); the path is checked not to be a symlink."""
    from crashd.ingest.store import check_not_symlink, store_dir

    spec = spec.rstrip("/")
    names = record_names(paths)
    store = store_dir(paths)
    matches = _pick(names, spec)
    if not matches:
        raise NotFoundError(f"no crash record matches {spec!r} in {store}")
    if len(matches) > 1:
        shown = ", ".join(matches[:MAX_CANDIDATES])
        more = f" and {len(matches) - MAX_CANDIDATES} more" if len(matches) > MAX_CANDIDATES else ""
        raise NotFoundError(f"{spec!r} is ambiguous: matches {shown}{more}")
    path = store / matches[0]
    check_not_symlink(path)
    return path
