"""Shared output helpers for verbs: JSON with a schema version, aligned tables, clean text.

Record fields come from a crashed kernel's log and from files anyone may have
planted in a spool: a panic line can carry terminal escape sequences (retitle the
window, clear the screen, fake a prompt). Everything a person sees goes through
:func:`clean`; JSON escapes control characters itself.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

__all__ = ["JSON_MODES", "JSON_VERSION", "add_json_option", "clean", "print_json", "print_json_lines",
           "print_table", "text"]

JSON_VERSION = 1
# pretty: indented (what a bare --json has always printed); short: one line per object (jq, log shippers)
JSON_MODES = ("pretty", "short")


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


def add_json_option(parser: argparse.ArgumentParser, help_text: str = "machine-readable output") -> None:
    """``--json[=pretty|short]``: every verb's JSON option (``crashd.cli.main`` turns a bare
    ``--json`` into ``--json=pretty``, so the value never swallows a positional argument)."""
    parser.add_argument("--json", choices=JSON_MODES, default=None, metavar="MODE",
                        help=f"{help_text}: pretty (indented; what a bare --json gives) or short "
                             "(one line per object; list: one line per record)")


def print_json(data: dict[str, Any], stream: TextIO | None = None, mode: str | None = "pretty") -> None:
    """Print ``data`` as JSON with a top-level ``version`` (the output schema); ``mode``
    short puts it on one line."""
    payload = {"version": JSON_VERSION, **data}
    out = stream or sys.stdout
    if mode == "short":
        json.dump(payload, out, sort_keys=True, default=str, separators=(",", ":"))
    else:
        json.dump(payload, out, indent=2, sort_keys=True, default=str)
    out.write("\n")


def print_json_lines(objects: Sequence[dict[str, Any]], stream: TextIO | None = None) -> None:
    """JSON Lines: each object on its own line, each with the schema ``version``."""
    for obj in objects:
        print_json(obj, stream, mode="short")


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str] | None, stream: TextIO | None = None, *,
                width: int | None = None, shrink: int | None = None,
                paint: Callable[[int, int, str], str] | None = None) -> None:
    """Left-aligned columns; the last column is never padded. ``header`` None: no legend.

    ``width`` (the terminal's): column ``shrink`` is cut (with ``…``) so lines fit; no other
    column is ever cut. ``paint(row, column, cell)`` colours a padded cell (rows count from 0
    without the header): widths are measured before colour codes are added."""
    out = stream or sys.stdout
    ncols = len(header) if header is not None else (len(rows[0]) if rows else 0)
    body = [[clean(c) for c in r] for r in rows]
    table = ([list(header)] if header is not None else []) + body
    widths = [max(len(r[i]) for r in table) for i in range(ncols)] if table else []
    if width is not None and shrink is not None and table:
        others = sum(w for i, w in enumerate(widths) if i != shrink) + 2 * (ncols - 1)
        room = max(width - others, len(header[shrink]) if header is not None else 1, 8)
        if widths[shrink] > room:
            widths[shrink] = room
            for r in table:
                if len(r[shrink]) > room:
                    r[shrink] = r[shrink][: room - 1] + "…"
    first_body = 1 if header is not None else 0
    for y, r in enumerate(table):
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        if paint is not None and y >= first_body:
            cells = [paint(y - first_body, i, c) for i, c in enumerate(cells)]
        out.write("  ".join(cells).rstrip() + "\n")
