"""Bound an in-process step: no progress for ``stall`` seconds, or past a deadline, ends it.

The native copy and crashd's own dmesg reader run in this process, so there is no
child to kill. A read of ``/proc/vmcore`` or a write to a dying disk that blocks
never returns to Python, so a check between chunks alone cannot end it. Chosen:
``SIGALRM`` (``setitimer``), re-armed at every sign of progress (:meth:`Watchdog.kick`);
its handler raises :class:`Stalled`, which interrupts an interruptible blocking
system call (PEP 475 retries a call only when the handler returns) and unwinds to
the saver, which still writes capture.json and requests the final action. Between
chunks :meth:`Watchdog.check` does the same test without a signal, so the bound
holds off the main thread too (where signals cannot be used).

What no process can end itself: a task in uninterruptible sleep (``D`` state). For
that the unit is the bound: ``EXTEND_TIMEOUT_USEC=`` is sent only while bytes move,
so systemd times the service out and ``FailureAction=reboot-force`` reboots.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType

from crashd.core.errors import CrashdError

__all__ = ["Stalled", "Watchdog"]


class Stalled(CrashdError):
    """A collector made no progress for too long, or the save's time bound passed."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class Watchdog:
    """``with Watchdog(stall, deadline) as dog:`` … ``dog.kick()`` on progress."""

    def __init__(
        self,
        stall: float,
        deadline: float | None,
        clock: Callable[[], float] = time.monotonic,
        bound: str = "the save's time bound",
    ):
        self.stall = stall
        self.bound = bound
        self.deadline = deadline  # on ``clock``'s scale (time.monotonic)
        self.clock = clock
        self.last = clock()
        self.done = 0  # bytes at the last kick, for the message
        self._signals = False
        self._old: object = None

    def __enter__(self) -> Watchdog:
        self.last = self.clock()
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGALRM, self._fire)
            self._signals = True
            self._arm()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._signals:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)  # type: ignore[arg-type]
            self._signals = False

    def kick(self, done: int | None = None) -> None:
        """Progress was made: the stall clock starts again."""
        self.last = self.clock()
        if done is not None:
            self.done = done
        if self._signals:
            self._arm()

    def reason(self) -> str | None:
        """Why the step must end now, or None."""
        now = self.clock()
        if self.deadline is not None and now >= self.deadline:
            return f"{self.bound} was reached"
        if now - self.last >= self.stall:
            return f"no progress for {self.stall:g} s (at {self.done} bytes)"
        return None

    def check(self) -> None:
        why = self.reason()
        if why is not None:
            raise Stalled(why)

    def _arm(self) -> None:
        wait = self.stall
        if self.deadline is not None:
            wait = min(wait, self.deadline - self.clock())
        signal.setitimer(signal.ITIMER_REAL, max(wait, 0.001))

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        why = self.reason()
        if why is None:  # kicked meanwhile (a late signal): wait on
            self._arm()
            return
        raise Stalled(why)
