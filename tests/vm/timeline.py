"""Downtime figures from one QEMU run's serial console.

Host arrival times alone mislead (vm-lab.md pitfall 6): a kernel's first console lines arrive
in one burst when the console registers. So each kernel boot is placed on the host clock by
its own printk timestamps: boot start = min(arrival - printk time) over the lines of that
boot (the line that waited least), and a kernel event = boot start + its printk time.
Userspace lines without a printk stamp (the test driver's ``VMTEST:`` lines) are timed by
arrival, which is accurate once the console is up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tests.vm.qemu import Line

_STAMP = re.compile(r"^\[\s*(\d+\.\d+)\]\s?(.*)$")
_LINUX = re.compile(r"Linux version \S+")


@dataclass(frozen=True)
class KernelBoot:
    first: int  # index of the "Linux version" line
    last: int  # index one past this boot's lines
    start: float  # host seconds when this kernel's clock read 0

    def at(self, printk_seconds: float) -> float:
        return self.start + printk_seconds


def kernel_boots(lines: Sequence[Line]) -> list[KernelBoot]:
    firsts = [i for i, ln in enumerate(lines) if _LINUX.search(ln.text) and _STAMP.match(ln.text)]
    boots = []
    for n, first in enumerate(firsts):
        last = firsts[n + 1] if n + 1 < len(firsts) else len(lines)
        offsets = [
            ln.t - float(m.group(1)) for ln in lines[first:last] if (m := _STAMP.match(ln.text))
        ]
        boots.append(KernelBoot(first, last, min(offsets)))
    return boots


def find(lines: Sequence[Line], pattern: str, start: int = 0, stop: int | None = None) -> int | None:
    rx = re.compile(pattern)
    for i in range(start, len(lines) if stop is None else stop):
        if rx.search(lines[i].text):
            return i
    return None


def event_time(lines: Sequence[Line], boots: Sequence[KernelBoot], index: int) -> float:
    """Host time of line ``index``: from its printk stamp when it has one, else its arrival."""
    m = _STAMP.match(lines[index].text)
    if m:
        for boot in boots:
            if boot.first <= index < boot.last:
                return boot.at(float(m.group(1)))
    return lines[index].t


@dataclass(frozen=True)
class Downtime:
    """One kdump cycle, in host seconds."""

    boot_to_user: float | None  # first kernel start -> test driver running (multi-user reached)
    panic_to_capture: float  # panic line -> capture kernel start
    capture_seconds: float | None  # capture kernel start -> its reboot (None: did not reboot)
    panic_to_back_up: float | None  # panic -> the next normal boot's test driver

    def describe(self) -> str:
        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1f} s"

        return (
            f"boot->multi-user {f(self.boot_to_user)}, panic->capture-start {f(self.panic_to_capture)}, "
            f"capture {f(self.capture_seconds)}, panic->back-up {f(self.panic_to_back_up)}"
        )


def kdump_cycle(lines: Sequence[Line]) -> Downtime | None:
    """Figures for the first panic in ``lines`` followed by a capture kernel; None if none."""
    boots = kernel_boots(lines)
    panic = find(lines, r"Kernel panic - not syncing")
    if panic is None:
        return None
    after = [b for b in boots if b.first > panic]
    if not after:
        return None
    crashed = [b for b in boots if b.first < panic][-1]
    capture = after[0]
    driver1 = find(lines, r"^VMTEST: boot 1 ", crashed.first, panic)
    t_panic = event_time(lines, boots, panic)
    reboot = find(lines, r"reboot: (Restarting system|Power down)", capture.first, capture.last)
    back = find(lines, r"^VMTEST: boot \d+ ", capture.last)
    return Downtime(
        boot_to_user=None if driver1 is None else lines[driver1].t - crashed.start,
        panic_to_capture=capture.start - t_panic,
        capture_seconds=None if reboot is None else event_time(lines, boots, reboot) - capture.start,
        panic_to_back_up=None if back is None else lines[back].t - t_panic,
    )
