"""Text from a crashed kernel, made safe for a terminal and the journal.

A panic line, a kernel release or a pstore file name comes from the machine that
crashed — or from whoever planted it. Printed raw, an escape sequence can rewrite
the terminal (clear it, retitle it, hide lines) and a newline can forge a second
journal line. Every such string leaves ingest through :func:`printable`.
"""

from __future__ import annotations

import re

__all__ = ["MAX_LINE", "printable"]

# A panic line is one line; anything longer is not one a person reads.
MAX_LINE = 512

# ESC-introduced sequences (CSI "ESC [ … final", OSC "ESC ] … BEL|ST", two-byte ESC X),
# and the 8-bit CSI/OSC introducers.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x9d[^\x07\x9c]*[\x07\x9c]?"
)
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str | None, limit: int = MAX_LINE) -> str:
    """``text`` without escape sequences, each other control character shown as ``\\xNN``,
    cut to ``limit`` characters (marked with ``…``); a byte that is not UTF-8 is shown as ``\\xNN``."""
    if not text:
        return ""
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", _ESCAPES.sub("", text))
    # A file name that is not UTF-8 (surrogate-escaped by os.listdir) cannot be printed.
    out = _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", out)
    return out if len(out) <= limit else out[: limit - 1] + "…"
