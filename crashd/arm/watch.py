"""Notice when the capture kernel's files change (a kernel update, a new initrd).

Cheap stat polling, not inotify, on purpose:
- package managers replace files by rename; ``/boot/vmlinuz`` may be a symlink
  re-pointed; ``/boot`` may be a separate file system mounted late — an inotify
  watch on the old inode or directory silently goes deaf in each case;
- two or three ``stat(2)`` calls every few seconds cost nothing measurable;
- it works unchanged on a fake root in tests.
The daemon polls anyway (to notice an unload behind its back), so this rides on
that tick. The settle time then debounces a package manager's burst of writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FileWatch", "Stamp", "stamp"]

Stamp = tuple[int, int, int, int, int] | None  # dev, ino, size, mtime_ns, ctime_ns


def stamp(path: Path) -> Stamp:
    """What identifies a file's content cheaply; follows symlinks (the target
    is what kexec reads). None when missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileWatch:
    """Remembers stamps of a set of files and says which changed since."""

    def __init__(self, files: Iterable[Path] = ()):
        self._stamps: dict[Path, Stamp] = {}
        self._seen: dict[Path, Stamp] = {}
        self.reset(files)

    def reset(self, files: Iterable[Path]) -> None:
        """Watch ``files`` from now on (the set just armed)."""
        self._stamps = {Path(f): stamp(Path(f)) for f in files}
        self._seen = dict(self._stamps)

    @property
    def files(self) -> list[Path]:
        return list(self._stamps)

    def news(self) -> list[Path]:
        """Files that changed since the previous call (or reset). A file being
        written keeps showing up, which keeps the debounce waiting; a finished
        change shows up once, so it does not postpone the re-arm."""
        out = []
        for p in self._stamps:
            now = stamp(p)
            if now != self._seen.get(p):
                self._seen[p] = now
                out.append(p)
        return out
