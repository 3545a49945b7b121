"""``crashd list``'s filters, as journalctl and coredumpctl spell them.

``--kind`` (a kind of ``kdump+pstore`` matches both kdump and pstore), ``--kernel``
(a release, or a glob such as ``6.1*``), ``--signature`` (a prefix), ``--since``/
``--until`` (inclusive; :func:`crashd.cli.timefmt.parse_when`), ``-n N`` (the newest
N), ``-r`` (newest first). A record whose crash time is unknown falls back to the
time in its name (UTC); it is left out only by a time filter it cannot meet.
"""

from __future__ import annotations

import argparse
import fnmatch
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from crashd.cli.timefmt import parse_when, to_datetime

__all__ = ["apply", "count_arg", "repeats", "row_time", "when_arg"]


def when_arg(text: str) -> datetime:
    """argparse ``type=`` for --since/--until: a bad value is a usage error (exit 2)."""
    try:
        return parse_when(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count_arg(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (a whole number, 0 or more)")
    return int(text)


def row_time(row: dict[str, Any]) -> datetime | None:
    when = to_datetime(row.get("crash_time"))
    if when is None:
        try:
            when = datetime.strptime(str(row["name"])[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    return when


def repeats(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How many records share each signature (the whole store: a repeat is a repeat)."""
    return dict(Counter(r["signature"] for r in rows if r.get("signature")))


def _kind_ok(kind: object, wanted: str) -> bool:
    return isinstance(kind, str) and (kind == wanted or wanted in kind.split("+"))


def apply(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """``rows`` (oldest first) as the options select and order them."""
    out = []
    for r in rows:
        if args.kind and not _kind_ok(r.get("kind"), args.kind):
            continue
        kernel = r.get("kernel") or ""
        if args.kernel and not (kernel == args.kernel or fnmatch.fnmatchcase(kernel, args.kernel)):
            continue
        if args.signature and not str(r.get("signature") or "").startswith(args.signature):
            continue
        if args.since or args.until:
            when = row_time(r)
            if when is None or (args.since and when < args.since) or (args.until and when > args.until):
                continue
        out.append(r)
    if args.lines is not None:
        out = out[len(out) - args.lines:] if args.lines else []
    return out[::-1] if args.reverse else out
