"""Every host path crashd touches, derived from one root.

Production uses ``/``; tests and image inspection pass another root (``--root DIR``
or ``CRASHD_ROOT``). Nothing here is computed at import time: build a
:class:`HostPaths` and ask it.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

__all__ = ["HostPaths", "ROOT_ENV"]

ROOT_ENV = "CRASHD_ROOT"


@dataclass(frozen=True)
class HostPaths:
    """Maps absolute host paths under ``root``."""

    root: Path = Path("/")

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None) -> HostPaths:
        """An explicit root wins, then ``$CRASHD_ROOT``, then ``/``."""
        chosen = root if root is not None else os.environ.get(ROOT_ENV) or "/"
        return cls(Path(chosen))

    def host(self, path: str | os.PathLike[str]) -> Path:
        """Map an absolute host path (e.g. a config value) under the root."""
        text = os.fspath(path)
        if not text.startswith("/"):
            raise ValueError(f"host path must be absolute: {text}")
        # normpath drops '..' above '/' ("/../../etc" is "/etc"), so a config value
        # or a symlink's text can never name a path outside the root
        return self.root.joinpath(*Path(posixpath.normpath(text)).parts[1:])

    def unhost(self, path: Path) -> str:
        """The host-absolute spelling of a path below the root (for messages)."""
        try:
            return "/" + str(path.relative_to(self.root)).lstrip(".")
        except ValueError:
            return str(path)

    # --- top-level trees -------------------------------------------------
    def proc(self, *parts: str) -> Path:
        return self.root.joinpath("proc", *parts)

    def sys(self, *parts: str) -> Path:
        return self.root.joinpath("sys", *parts)

    def boot(self, *parts: str) -> Path:
        return self.root.joinpath("boot", *parts)

    def etc(self, *parts: str) -> Path:
        return self.root.joinpath("etc", *parts)

    def var(self, *parts: str) -> Path:
        return self.root.joinpath("var", *parts)

    def run(self, *parts: str) -> Path:
        return self.root.joinpath("run", *parts)

    def dev(self, *parts: str) -> Path:
        return self.root.joinpath("dev", *parts)

    # --- named files -----------------------------------------------------
    @property
    def cmdline(self) -> Path:
        return self.proc("cmdline")

    @property
    def iomem(self) -> Path:
        return self.proc("iomem")

    @property
    def mounts(self) -> Path:
        return self.proc("self", "mounts")

    @property
    def vmcore(self) -> Path:
        return self.proc("vmcore")

    @property
    def osrelease(self) -> Path:
        return self.proc("sys", "kernel", "osrelease")

    @property
    def boot_id(self) -> Path:
        return self.proc("sys", "kernel", "random", "boot_id")

    def sysctl(self, name: str) -> Path:
        """``kernel.panic_on_oops`` → ``/proc/sys/kernel/panic_on_oops``."""
        return self.proc("sys", *name.split("."))

    @property
    def kexec_crash_loaded(self) -> Path:
        return self.sys("kernel", "kexec_crash_loaded")

    @property
    def kexec_crash_size(self) -> Path:
        return self.sys("kernel", "kexec_crash_size")

    @property
    def pstore(self) -> Path:
        return self.sys("fs", "pstore")

    @property
    def config_file(self) -> Path:
        return self.etc("crashd.conf")

    @property
    def config_dropins(self) -> Path:
        return self.etc("crashd.conf.d")

    @property
    def crash_store(self) -> Path:
        """Where crash records live (``/var/lib/crash``)."""
        return self.var("lib", "crash")

    @property
    def systemd_pstore_archive(self) -> Path:
        return self.var("lib", "systemd", "pstore")

    @property
    def boot_ledger(self) -> Path:
        """One file per armed boot (``/var/lib/crashd/boots``): persistent, so the next
        boot can tell a boot that ended without a clean shutdown (crashd.core.bootledger)."""
        return self.var("lib", "crashd", "boots")

    @property
    def state_dir(self) -> Path:
        """Runtime state shared by the daemon and the CLI (``/run/crashd``)."""
        return self.run("crashd")
