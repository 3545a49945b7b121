"""Shared output helpers for verbs: JSON with a schema version, aligned tables, clean text.

Record fields come from a crashed kernel's log and from files anyone may have
planted in a spool: a panic line can carry terminal escape sequences (retitle the
window, clear the screen, fake a prompt). Everything a person sees goes through
:func:`clean`; JSON escapes control characters itself.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["JSON_VERSION", "clean", "print_json", "print_table", "text"]

JSON_VERSION = 1


# C0 controls but tab, DEL, and C1 controls (0x9b is a one-byte CSI on many terminals)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean(value: str) -> str:
    """``value`` with every control character shown as ``\\xNN`` instead of acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def text(value: object, missing: str = "-") -> str:
    """A field for a person: ``missing`` for None (Python's None never reaches a
    person), yes/no for booleans, cleaned text otherwise."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    return clean(str(value))


def print_json(data: dict[str, Any], stream: TextIO | None = None) -> None:
    """Print ``data`` as JSON with a top-level ``version`` (the output schema)."""
    payload = {"version": JSON_VERSION, **data}
    json.dump(payload, stream or sys.stdout, indent=2, sort_keys=True, default=str)
    (stream or sys.stdout).write("\n")


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str], stream: TextIO | None = None) -> None:
    """Left-aligned columns; the last column is never padded."""
    out = stream or sys.stdout
    table = [list(header), *[[clean(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.write("  ".join(cells).rstrip() + "\n")
