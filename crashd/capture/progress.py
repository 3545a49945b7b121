"""Tell the people at the console and systemd how far the save has got.

The console (the unit sends stdout to journal+console) gets a line at every 10 %
and at the end; systemd gets ``STATUS=`` with percent and MB/s at most once a
second, and ``EXTEND_TIMEOUT_USEC=`` so a long but moving copy is never killed by
``TimeoutStartSec=`` while a stuck one still is: the extension is sent only when
bytes advanced since the last one (never at the start of a step, never on a tick
that saw nothing move), so a collector stuck where no process can end it (a task
in uninterruptible sleep) still runs into the unit's timeout and its
``FailureAction=``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from crashd.core.notify import Notifier

__all__ = ["EXTEND_BY_USEC", "EXTEND_EVERY", "Progress", "SAMPLE_EVERY", "STATUS_EVERY", "UNKNOWN_TOTAL_CONSOLE_EVERY"]

STATUS_EVERY = 1.0  # seconds between STATUS= updates
EXTEND_EVERY = 10.0  # seconds between EXTEND_TIMEOUT_USEC= pings
EXTEND_BY_USEC = 120_000_000  # each ping buys two minutes from now
UNKNOWN_TOTAL_CONSOLE_EVERY = 15.0  # seconds between console lines when no percent is known
SAMPLE_EVERY = 1.0  # seconds between calls of ``sample`` (the save's memory watch)


class Progress:
    """Feed it the number of bytes done so far; it decides when to speak."""

    def __init__(
        self,
        what: str,
        total: int | None,
        where: str,
        notifier: Notifier | None = None,
        console: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        sample: Callable[[], None] | None = None,
    ):
        self.what = what
        self.total = total if total and total > 0 else None
        self.where = where
        self.notifier = notifier
        self.console = console if console is not None else sys.stdout
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._next_decile = 1
        self._last_status = -1e9
        self._last_extend = -1e9
        self._last_console = self.started
        self._extended_at = 0  # bytes done at the last extension
        self._moved = False  # the collector reported activity since the last extension
        self.sample = sample
        self._last_sample = -1e9

    def _rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.done / elapsed / 1e6 if elapsed > 0 else 0.0

    def say(self, line: str) -> None:
        print(f"crashd save: {line}", file=self.console, flush=True)

    def extend(self) -> None:
        if self.notifier is not None:
            self.notifier.send(f"EXTEND_TIMEOUT_USEC={EXTEND_BY_USEC}")
        self._last_extend = self.clock()

    def update(self, done: int, moved: bool | None = None) -> None:
        """``done`` bytes so far; ``moved`` says whether the collector did anything
        since the last call when ``done`` alone cannot tell (makedumpfile reading
        and filtering pages before it writes): default, ``done`` grew."""
        self._moved = self._moved or bool(moved)
        advanced = self._moved or done > self._extended_at
        self.done = done
        now = self.clock()
        if self.total:
            pct = min(100, done * 100 // self.total)
            while self._next_decile <= 9 and pct >= self._next_decile * 10:
                self.say(
                    f"{self.what}: {self._next_decile * 10}% ({done >> 20} of {self.total >> 20} MiB, "
                    f"{self._rate(now):.1f} MB/s)"
                )
                self._next_decile += 1
            status = f"{self.what}: {pct}% of {self.total >> 20} MiB, {self._rate(now):.1f} MB/s"
        else:
            status = f"{self.what}: {done >> 20} MiB, {self._rate(now):.1f} MB/s"
            if now - self._last_console >= UNKNOWN_TOTAL_CONSOLE_EVERY:
                self.say(status)
                self._last_console = now
        if self.notifier is not None and now - self._last_status >= STATUS_EVERY:
            self.notifier.status(status)
            self._last_status = now
        if self.sample is not None and now - self._last_sample >= SAMPLE_EVERY:
            self.sample()
            self._last_sample = now
        if advanced and now - self._last_extend >= EXTEND_EVERY:
            self.extend()
            self._extended_at = done
            self._moved = False

    def finish(self, done: int, ok: bool = True) -> float:
        """Final console line (bytes, seconds, where); returns the seconds taken."""
        self.done = done
        now = self.clock()
        seconds = now - self.started
        verdict = "done" if ok else "stopped"
        self.say(
            f"{self.what} {verdict}: {done} bytes in {seconds:.1f} s ({self._rate(now):.1f} MB/s) to {self.where}"
        )
        if self.notifier is not None:
            self.notifier.status(f"{self.what} {verdict}: {done >> 20} MiB in {seconds:.0f} s")
        return seconds
