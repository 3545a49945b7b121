"""How much the dump needs and how much the target can give.

In the capture kernel the only cheap, certain figure is the vmcore's own size
(its PT_LOAD segments): an upper bound for the native copy (zero pages become
holes, so it usually takes fewer blocks). makedumpfile's ``--mem-usage`` needs
``/proc/kcore`` of the *first* kernel, so it cannot run here; for makedumpfile the
budget is instead handed to it as ``-L`` and it stops itself at the limit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Space", "StatVfs", "mib"]

StatVfs = Callable[[str | os.PathLike[str]], os.statvfs_result]


@dataclass(frozen=True)
class Space:
    """Free space on the target, minus what must stay free (``[capture] min_free``)."""

    target: Path
    min_free: int
    statvfs: StatVfs = os.statvfs

    def free(self) -> int:
        """Bytes an unprivileged writer may still use (``f_bavail``)."""
        st = self.statvfs(self.target)
        return st.f_bavail * st.f_frsize

    def budget(self) -> int:
        """Bytes this capture may use before it would eat into ``min_free``."""
        return max(0, self.free() - self.min_free)

    def fits(self, needed: int) -> bool:
        return needed <= self.budget()


def mib(n: int | float) -> str:
    """``123.4 MiB`` for messages."""
    return f"{n / (1 << 20):.1f} MiB"
