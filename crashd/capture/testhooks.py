"""Test-only kill points, so reliability tests can stop a save at an exact place.

Tests set ``CRASHD_TEST_MOUNT_DEADLINE`` (seconds) to stop retrying a failing
mount sooner, and ``CRASHD_TEST_KILL_AT`` to a phase name (``dmesg``, ``dump``, ``json``,
``publish``) or ``CRASHD_TEST_KILL_AT_BYTE`` to a byte offset of the dump; the
process then SIGKILLs itself there: no sleeps, no races. Both are read from the
environment once; unset (always, in production) they cost one dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["KILL_AT", "KILL_AT_BYTE", "MOUNT_DEADLINE", "kill_byte", "kill_point", "mount_deadline"]

KILL_AT = "CRASHD_TEST_KILL_AT"
KILL_AT_BYTE = "CRASHD_TEST_KILL_AT_BYTE"
MOUNT_DEADLINE = "CRASHD_TEST_MOUNT_DEADLINE"


def kill_point(phase: str) -> None:
    """Die here if a test asked for it."""
    if os.environ.get(KILL_AT) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def kill_byte() -> int | None:
    """The dump byte offset at which a test wants the copy to die, if any."""
    value = os.environ.get(KILL_AT_BYTE)
    return int(value) if value and value.isdigit() else None


def mount_deadline(default: float) -> float:
    """How long to keep retrying a mount; a test may shorten it."""
    value = os.environ.get(MOUNT_DEADLINE)
    try:
        return float(value) if value else default
    except ValueError:
        return default
