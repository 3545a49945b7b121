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
from collections.abc import Sequence
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
                        help=f"{help_text}: MODE pretty (the default of a bare --json, indented) or short "
                             "(one line per object)")


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


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str], stream: TextIO | None = None) -> None:
    """Left-aligned columns; the last column is never padded."""
    out = stream or sys.stdout
    table = [list(header), *[[clean(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.write("  ".join(cells).rstrip() + "\n")
