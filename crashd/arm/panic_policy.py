"""The ``[panic]`` policy: which failures panic (and so get captured).

Applied through ``/proc/sys/kernel/*``. The value found before our first write is
remembered and written back on stop — but only while the sysctl still holds the
value we set, so an administrator's later change is never clobbered.
``crash_kexec_post_notifiers`` is reported, never changed: it trades a safer
kdump for pstore/notifier output and is a boot-time decision.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from crashd.core.paths import HostPaths
from crashd.core.settings import PanicConfig

__all__ = [
    "PanicPolicy",
    "SYSCTLS",
    "SysctlChange",
    "log",
    "post_notifiers",
    "read_sysctl",
    "wanted_values",
    "write_sysctl",
]

log = logging.getLogger(__name__)

# [panic] key -> sysctl
SYSCTLS: dict[str, str] = {
    "on_oops": "kernel.panic_on_oops",
    "on_warn": "kernel.panic_on_warn",
    "softlockup": "kernel.softlockup_panic",
    "hardlockup": "kernel.hardlockup_panic",
    "hung_task": "kernel.hung_task_panic",
    "timeout": "kernel.panic",
}


@dataclass(frozen=True)
class SysctlChange:
    """One sysctl we touched (or could not)."""

    name: str
    old: str | None
    new: str
    error: str | None = None


def wanted_values(cfg: PanicConfig) -> dict[str, str]:
    """sysctl -> value text for every key not set to ``keep``."""
    out: dict[str, str] = {}
    for key, name in SYSCTLS.items():
        value = getattr(cfg, key)
        if value is None:
            continue
        out[name] = str(int(value))
    return out


def read_sysctl(paths: HostPaths, name: str) -> str | None:
    try:
        return paths.sysctl(name).read_text().strip()
    except OSError:
        return None


def write_sysctl(paths: HostPaths, name: str, value: str) -> None:
    """Write like ``sysctl -w``: one write(2) of ``value\\n``; never create the file.

    O_TRUNC is ignored by procfs and makes the same code right on a fake root.
    """
    fd = os.open(paths.sysctl(name), os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, (value + "\n").encode())
    finally:
        os.close(fd)


def post_notifiers(paths: HostPaths) -> bool | None:
    """``crash_kexec_post_notifiers``: True means panic notifiers (pstore) run
    before the capture kernel starts. None when the kernel does not say."""
    try:
        text = paths.sys("module", "kernel", "parameters", "crash_kexec_post_notifiers").read_text().strip()
    except OSError:
        return None
    return text in ("Y", "1")


class PanicPolicy:
    """Applies ``[panic]`` and remembers what it has to put back."""

    def __init__(self, paths: HostPaths, originals: dict[str, str] | None = None):
        self.paths = paths
        # name -> value before crashd first touched it. Seeded from the state file
        # when a previous daemon died without restoring.
        self.originals: dict[str, str] = dict(originals or {})
        self.applied: dict[str, str] = {}

    def apply(self, cfg: PanicConfig) -> list[SysctlChange]:
        """Make the kernel match ``cfg``; keys turned back to ``keep`` are restored."""
        wanted = wanted_values(cfg)
        changes: list[SysctlChange] = []
        for name in list(self.applied):
            if name not in wanted:
                changes += self._restore_one(name)
        for name, value in wanted.items():
            current = read_sysctl(self.paths, name)
            if current is None:
                # e.g. hardlockup_panic without a hard-lockup detector
                changes.append(SysctlChange(name, None, value, "not present in this kernel"))
                continue
            self.originals.setdefault(name, current)
            if current == value:
                self.applied[name] = value
                continue
            try:
                write_sysctl(self.paths, name, value)
            except OSError as exc:
                changes.append(SysctlChange(name, current, value, exc.strerror or str(exc)))
                continue
            self.applied[name] = value
            changes.append(SysctlChange(name, current, value))
        for ch in changes:
            if ch.error:
                log.warning("cannot set %s=%s: %s", ch.name, ch.new, ch.error)
            else:
                log.info("set %s=%s (was %s)", ch.name, ch.new, ch.old)
        return changes

    def _restore_one(self, name: str) -> list[SysctlChange]:
        ours = self.applied.pop(name)
        old = self.originals.pop(name, None)
        if old is None or old == ours:
            return []
        current = read_sysctl(self.paths, name)
        if current != ours:
            log.info("leaving %s=%s: changed by someone else since crashd set %s", name, current, ours)
            return []
        try:
            write_sysctl(self.paths, name, old)
        except OSError as exc:
            # keep both: the original stays in the state file, a later restore retries
            self.applied[name] = ours
            self.originals[name] = old
            return [SysctlChange(name, current, old, exc.strerror or str(exc))]
        return [SysctlChange(name, current, old)]

    def restore(self) -> list[SysctlChange]:
        """Put back every value crashd changed (on stop)."""
        changes: list[SysctlChange] = []
        for name in list(self.applied):
            changes += self._restore_one(name)
        for name in [n for n in self.originals if n not in self.applied]:  # restored or never ours
            del self.originals[name]
        for ch in changes:
            if ch.error:
                log.warning("cannot restore %s=%s: %s", ch.name, ch.new, ch.error)
            else:
                log.info("restored %s=%s", ch.name, ch.new)
        return changes

    def pending_originals(self) -> dict[str, str]:
        """What must be restored if we died now (kept in the state file)."""
        return {n: v for n, v in self.originals.items() if n in self.applied and self.applied[n] != v}
