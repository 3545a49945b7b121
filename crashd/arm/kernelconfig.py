"""Read the running kernel's build configuration.

Sources, in order: ``/proc/config.gz`` (CONFIG_IKCONFIG_PROC) then
``/boot/config-<release>``. When neither exists the answer is "unknown" —
never guessed from the distribution or version.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from crashd.core.paths import HostPaths

__all__ = ["KernelConfig", "parse_kconfig", "read_kernel_config"]


@dataclass(frozen=True)
class KernelConfig:
    source: Path
    options: dict[str, str]

    def enabled(self, name: str) -> bool:
        """``CONFIG_<name>`` is ``y`` or ``m``."""
        return self.options.get(f"CONFIG_{name}") in ("y", "m")


def parse_kconfig(text: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            options[key] = value.strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            options[line[2:].split()[0]] = "n"
    return options


def read_kernel_config(paths: HostPaths, release: str) -> KernelConfig | None:
    """The first readable source, or None."""
    proc = paths.proc("config.gz")
    try:
        return KernelConfig(proc, parse_kconfig(gzip.decompress(proc.read_bytes()).decode("utf-8", "replace")))
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
        pass
    boot = paths.boot(f"config-{release}")
    try:
        return KernelConfig(boot, parse_kconfig(boot.read_text(errors="replace")))
    except OSError:
        return None
