"""Shared output helpers for verbs: JSON with a schema version, aligned tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["JSON_VERSION", "print_json", "print_table"]

JSON_VERSION = 1


def print_json(data: dict[str, Any], stream: TextIO | None = None) -> None:
    """Print ``data`` as JSON with a top-level ``version`` (the output schema)."""
    payload = {"version": JSON_VERSION, **data}
    json.dump(payload, stream or sys.stdout, indent=2, sort_keys=True, default=str)
    (stream or sys.stdout).write("\n")


def print_table(rows: Sequence[Sequence[str]], header: Sequence[str], stream: TextIO | None = None) -> None:
    """Left-aligned columns; the last column is never padded."""
    out = stream or sys.stdout
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        out.write("  ".join(cells).rstrip() + "\n")
