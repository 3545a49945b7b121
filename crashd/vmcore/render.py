"""Rendering records as text: byte-identical to ``vmcore-dmesg`` by default (§4.5)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from crashd.vmcore.record import LogRecord

__all__ = ["escape", "render", "timestamp"]

_UNSAFE = re.compile(rb"[^\x20-\x7e\t\n\x0b\x0c\r]")


def escape(raw: bytes) -> str:
    """Printable ASCII and whitespace as-is, every other byte as ``\\xNN``."""
    if _UNSAFE.search(raw):
        raw = _UNSAFE.sub(lambda m: b"\\x%02x" % m.group()[0], raw)
    return raw.decode("ascii")


def timestamp(ts_nsec: int) -> str:
    s, ns = divmod(ts_nsec, 1_000_000_000)
    return f"[{s:5d}.{ns // 1000:06d}]"


def render(records: Iterable[LogRecord], style: str = "vmcore-dmesg") -> str:
    """``vmcore-dmesg``: one prefix per record, inner newlines raw. ``dmesg``: prefix every line."""
    out: list[str] = []
    if style == "vmcore-dmesg":
        # Prefixes are plain ASCII, so escaping the joined bytes once equals escaping each text.
        parts: list[bytes] = []
        for r in records:
            if r.state == "legacy":
                parts.append(r.raw + b"\n")
            else:
                s, ns = divmod(r.ts_nsec, 1_000_000_000)
                parts.append(b"[%5d.%06d] %s\n" % (s, ns // 1000, r.raw))
        return escape(b"".join(parts))
    elif style == "dmesg":
        for r in records:
            if r.state == "legacy":
                out.append(escape(r.raw) + "\n")
                continue
            prefix = timestamp(r.ts_nsec) + " "
            for line in escape(r.raw).split("\n"):
                out.append(prefix + line + "\n")
    else:
        raise ValueError(f"unknown style {style!r}")
    return "".join(out)
