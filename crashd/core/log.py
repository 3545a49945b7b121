"""Logging set-up: syslog priority prefixes under systemd, plain lines otherwise.

When ``JOURNAL_STREAM`` is set, stderr is connected to journald, which reads a
leading ``<N>`` as the syslog priority (0–7). Python's numeric levels are never
sent as priorities.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

__all__ = ["PRIORITIES", "PriorityFormatter", "setup_logging", "syslog_priority", "under_journal"]

# Python level -> syslog priority (RFC 5424 numbers).
PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def syslog_priority(levelno: int) -> int:
    """The syslog priority for a Python level (custom levels round down)."""
    for level in sorted(PRIORITIES, reverse=True):
        if levelno >= level:
            return PRIORITIES[level]
    return 7


def under_journal(stream: TextIO | None = None) -> bool:
    """True when ``JOURNAL_STREAM`` names the device/inode of our stderr."""
    value = os.environ.get("JOURNAL_STREAM")
    if not value:
        return False
    stream = stream or sys.stderr
    try:
        dev, ino = (int(x) for x in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


class PriorityFormatter(logging.Formatter):
    """Prefixes each line with ``<N>`` so journald records the right priority."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        prio = syslog_priority(record.levelno)
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines() or [""])


def setup_logging(debug: bool = False, stream: TextIO | None = None) -> None:
    """Configure the ``crashd`` logger once per process."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if under_journal(stream):
        handler.setFormatter(PriorityFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("crashd: %(levelname)s: %(message)s"))
    logger = logging.getLogger("crashd")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
