"""What the save costs in memory, measured in the capture kernel itself.

``crashd estimate`` adds a constant for the capture userspace (crashd/arm/estimate.py
``USERSPACE``); this is where that constant's evidence comes from. Every capture
records, in capture.json ``memory``:

- ``mem_total``: the capture kernel's MemTotal (what its reservation left after the
  kernel image and boot-time allocations);
- ``mem_available_start``: MemAvailable when the save started, i.e. after systemd,
  journald, udev and the file systems took their share;
- ``mem_available_min``: the lowest MemAvailable seen while saving (sampled on the
  collector's progress ticks), the headroom that was really left;
- ``crashd_peak_rss``: ``crashd save``'s own peak RSS (``getrusage`` ``ru_maxrss``,
  the kernel's VmHWM of this process);
- ``collector_peak_rss``: the largest peak RSS of a child it waited for
  (makedumpfile, mount, ssh), ``RUSAGE_CHILDREN``.

Nothing here needs a memory cgroup: the capture command line may well say
``cgroup_disable=memory``. Sizes are bytes; a figure that cannot be read is None.
"""

from __future__ import annotations

import resource
from pathlib import Path

from crashd.capture.spool import CaptureMemory
from crashd.core.fsutil import read_value

__all__ = ["MemoryWatch", "meminfo"]


def meminfo(path: Path) -> dict[str, int]:
    """``/proc/meminfo`` as bytes per field (``kB`` values times 1024)."""
    fields: dict[str, int] = {}
    for line in (read_value(path) or "").splitlines():
        key, _, rest = line.partition(":")
        words = rest.split()
        if not words:
            continue
        try:
            value = int(words[0])
        except ValueError:
            continue
        fields[key.strip()] = value * 1024 if len(words) > 1 and words[1] == "kB" else value
    return fields


def _maxrss(who: int) -> int:
    return resource.getrusage(who).ru_maxrss * 1024  # Linux: KiB


class MemoryWatch:
    """Samples MemAvailable during one save; :meth:`figures` is capture.json's ``memory``."""

    def __init__(self, meminfo_path: Path):
        self.path = meminfo_path
        first = meminfo(meminfo_path)
        self.total = first.get("MemTotal")
        self.start = first.get("MemAvailable")
        self.low = self.start

    def sample(self) -> None:
        now = meminfo(self.path).get("MemAvailable")
        if now is not None and (self.low is None or now < self.low):
            self.low = now

    def figures(self) -> CaptureMemory:
        self.sample()
        return {
            "mem_total": self.total,
            "mem_available_start": self.start,
            "mem_available_min": self.low,
            "crashd_peak_rss": _maxrss(resource.RUSAGE_SELF),
            "collector_peak_rss": _maxrss(resource.RUSAGE_CHILDREN),
        }

    @staticmethod
    def describe(fig: CaptureMemory) -> str:
        """One line for the console and capture.json ``steps``."""
        def mib(n: int | None) -> str:
            return "?" if n is None else f"{n / (1 << 20):.1f} MiB"
        return (f"memory: MemTotal {mib(fig['mem_total'])}, MemAvailable {mib(fig['mem_available_start'])} at the "
                f"start, {mib(fig['mem_available_min'])} at the lowest; peak RSS crashd save "
                f"{mib(fig['crashd_peak_rss'])}, collector {mib(fig['collector_peak_rss'])}")
