"""Whether crashd colours its output, and the few colours it uses.

The decision is systemd's (``get_color_mode()``): ``$SYSTEMD_COLORS`` when it parses
(``0``/``false``/``no`` off; ``1``/``true``/``yes``, ``16``, ``256``, ``24bit`` on,
even on a pipe), else off when ``$NO_COLOR`` is set (any value, no-color.org), off
when ``$TERM`` is unset or ``dumb``, else on exactly when stdout is a terminal.
It is made once, in :func:`crashd.cli.main`, before a pager takes stdout over.

What is coloured: a check that is not ok (red when missing, yellow when unknown),
a degraded verdict (yellow), an incomplete record (red), and kernel log levels as
``dmesg --color`` does (emerg..err red, warning yellow).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Colour", "decide", "dmesg_line_level"]

RED = "\x1b[0;1;31m"
YELLOW = "\x1b[0;1;33m"
BOLD = "\x1b[0;1;39m"
RESET = "\x1b[0m"

_ON = {"1": 256, "yes": 256, "true": 256, "on": 256, "y": 256, "t": 256, "16": 16, "256": 256, "24bit": 256}
_OFF = {"0", "no", "false", "off", "n", "f"}
_SYSLOG_PREFIX = re.compile(r"<(\d{1,3})>")


@dataclass(frozen=True)
class Colour:
    """The palette: every method returns its text unchanged when colour is off."""

    enabled: bool = False
    depth: int = 256  # 16 or 256 colours; crashd's few colours are the same in both

    def _wrap(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.enabled and text else text

    def red(self, text: str) -> str:
        return self._wrap(RED, text)

    def yellow(self, text: str) -> str:
        return self._wrap(YELLOW, text)

    def bold(self, text: str) -> str:
        return self._wrap(BOLD, text)

    def state(self, text: str, state: str) -> str:
        """A readiness check's word: ok plain, missing red, unknown yellow."""
        return {"missing": self.red, "unknown": self.yellow}.get(state, str)(text)

    def dmesg(self, level: int | None, text: str) -> str:
        """A kernel log line at syslog ``level`` (0 emerg .. 7 debug)."""
        if level is None:
            return text
        if level <= 3:
            return self.red(text)
        return self.yellow(text) if level == 4 else text


def decide(env: Mapping[str, str] | None = None, fd: int = 1) -> Colour:
    """The colour mode for output on ``fd`` under ``env`` (default: this process's)."""
    env = os.environ if env is None else env
    forced = env.get("SYSTEMD_COLORS")
    if forced is not None:
        value = forced.strip().lower()
        if value in _OFF:
            return Colour(False, 0)
        if value in _ON:
            return Colour(True, _ON[value])
    if "NO_COLOR" in env:
        return Colour(False, 0)
    if env.get("TERM", "dumb") == "dumb":
        return Colour(False, 0)
    try:
        tty = os.isatty(fd)
    except OSError:
        tty = False
    return Colour(True, 256) if tty else Colour(False, 0)


def dmesg_line_level(line: str) -> int | None:
    """The syslog level of a ``<N>[ts] text`` line (pstore keeps the prefix); None without one."""
    m = _SYSLOG_PREFIX.match(line)
    return int(m.group(1)) & 7 if m else None
