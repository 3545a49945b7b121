"""Test-only kill points, so reliability tests can stop a save at an exact place.

Tests set ``CRASHD_TEST_MOUNT_DEADLINE`` (seconds) to stop retrying a failing
mount sooner, and ``CRASHD_TEST_KILL_AT`` to a phase name (``dmesg``, ``dump``, ``json``,
``publish``) or ``CRASHD_TEST_KILL_AT_BYTE`` to a byte offset of the dump; the
process then SIGKILLs itself there: no sleeps, no races.
``CRASHD_TEST_STALL_AT_BYTE`` makes the native copy block, at that byte offset,
in a read that never returns (as on a page the hardware will not give), so the
stall bound can be proven in-process and in the capture kernel. Both are read from the
environment once; unset (always, in production) they cost one dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = [
    "KILL_AT",
    "KILL_AT_BYTE",
    "MOUNT_DEADLINE",
    "STALL_AT_BYTE",
    "block_forever",
    "kill_byte",
    "kill_point",
    "mount_deadline",
    "stall_byte",
]

KILL_AT = "CRASHD_TEST_KILL_AT"
KILL_AT_BYTE = "CRASHD_TEST_KILL_AT_BYTE"
MOUNT_DEADLINE = "CRASHD_TEST_MOUNT_DEADLINE"
STALL_AT_BYTE = "CRASHD_TEST_STALL_AT_BYTE"


def kill_point(phase: str) -> None:
    """Die here if a test asked for it."""
    if os.environ.get(KILL_AT) == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def kill_byte() -> int | None:
    """The dump byte offset at which a test wants the copy to die, if any."""
    value = os.environ.get(KILL_AT_BYTE)
    return int(value) if value and value.isdigit() else None


def stall_byte() -> int | None:
    """The dump byte offset at which a test wants the copy to block forever, if any."""
    value = os.environ.get(STALL_AT_BYTE)
    return int(value) if value and value.isdigit() else None


def block_forever() -> None:
    """Block in a read of a pipe nobody writes to: a real blocking system call, which
    only a signal (the stall watchdog's) ends."""
    r, w = os.pipe()
    try:
        os.read(r, 1)
    finally:
        os.close(r)
        os.close(w)


def mount_deadline(default: float) -> float:
    """How long to keep retrying a mount; a test may shorten it."""
    value = os.environ.get(MOUNT_DEADLINE)
    try:
        return float(value) if value else default
    except ValueError:
        return default
