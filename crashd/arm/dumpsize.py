"""How big the dump will be at the configured ``dump_level``, and whether the target holds it.

``makedumpfile --mem-usage /proc/kcore`` counts every page type of the running
kernel (zero, cache, private cache, user, free, kernel data); the dump keeps the
types the level does not exclude. Without it (not installed, or an architecture
it cannot read kcore on) /proc/meminfo gives a stated approximation. Compression
shrinks what is kept by :data:`COMPRESSION_RATIO`, measured on the x86 VM guest
(Debian 12, 1 GiB, level 31, lzo): ``--mem-usage`` counted 145 MiB kept and the capture
wrote 50.5 MiB (2.9x) in one run, 141 MiB and 31.4 MiB (4.5x) in another — what the
kernel holds at the crash compresses differently — so lzo's ratio is the middle, 3.7
(-22 % and +21 % on those two). The reference x86 dump (~75 MiB kept, 16.5 MB with zlib)
gives zlib ~4.5x. ``auto`` is lzo on Debian 12's makedumpfile (no zstd there).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

from crashd.core.errors import ToolError
from crashd.core.fsutil import read_value
from crashd.core.paths import HostPaths
from crashd.core.settings import Config
from crashd.core.target import is_device
from crashd.core.tools import ToolRunner

__all__ = [
    "system_ram",
    "COMPRESSION_RATIO",
    "DumpEstimate",
    "EXCLUDE_BITS",
    "MEM_USAGE_TIMEOUT",
    "estimate_dump",
    "kept_from_meminfo",
    "kept_from_mem_usage",
    "parse_mem_usage",
    "target_free",
]

# makedumpfile -d bits -> the --mem-usage page type each one excludes
EXCLUDE_BITS = {1: "ZERO", 2: "NON_PRI_CACHE", 4: "PRI_CACHE", 8: "USER", 16: "FREE"}
COMPRESSION_RATIO = {"none": 1.0, "lzo": 3.7, "snappy": 3.5, "zlib": 4.5, "zstd": 4.5, "auto": 3.7}
MEM_USAGE_TIMEOUT = 120.0


@dataclass(frozen=True)
class DumpEstimate:
    dump_level: int
    kept_bytes: int | None  # uncompressed pages the level keeps
    written_bytes: int | None  # after compression
    how: str
    target: str
    free_bytes: int | None
    min_free: int
    target_how: str

    @property
    def fits(self) -> bool | None:
        if self.written_bytes is None or self.free_bytes is None:
            return None
        return self.written_bytes + self.min_free <= self.free_bytes

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "fits": self.fits}


def parse_mem_usage(text: str) -> tuple[int, dict[str, int]] | None:
    """(page size, pages per type incl. ``TOTAL``) from ``makedumpfile --mem-usage`` output."""
    pages: dict[str, int] = {}
    for m in re.finditer(r"^(ZERO|NON_PRI_CACHE|PRI_CACHE|USER|FREE|KERN_DATA)\s+(\d+)", text, re.MULTILINE):
        pages[m.group(1)] = int(m.group(2))
    size = re.search(r"^page size:\s*(\d+)", text, re.MULTILINE)
    total = re.search(r"^Total pages on system:\s*(\d+)", text, re.MULTILINE)
    if not pages or size is None or total is None:
        return None
    pages["TOTAL"] = int(total.group(1))
    return int(size.group(1)), pages


def kept_from_mem_usage(page_size: int, pages: dict[str, int], level: int) -> int:
    excluded = sum(pages.get(kind, 0) for bit, kind in EXCLUDE_BITS.items() if level & bit)
    return max(0, pages["TOTAL"] - excluded) * page_size


def kept_from_meminfo(meminfo: str, level: int) -> int | None:
    """Approximation: MemTotal minus what the level excludes (free, anonymous = user,
    page cache); zero pages are not counted in meminfo and are left in."""
    values: dict[str, int] = {}
    for line in meminfo.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key.strip()] = int(parts[0]) * 1024
    if "MemTotal" not in values:
        return None
    excluded = 0
    if level & 16:
        excluded += values.get("MemFree", 0)
    if level & 8:
        excluded += values.get("AnonPages", 0)
    if level & 6:
        excluded += values.get("Cached", 0) + values.get("Buffers", 0)
    return max(0, values["MemTotal"] - excluded)


def system_ram(paths: HostPaths) -> int:
    """Bytes of top-level System RAM in /proc/iomem (what a dump of every page holds)."""
    total = 0
    for line in (read_value(paths.iomem) or "").splitlines():
        rng, _, name = line.partition(" : ")
        if name.strip() == "System RAM" and not line.startswith(" "):
            start, _, end = rng.strip().partition("-")
            try:
                total += int(end, 16) - int(start, 16) + 1
            except ValueError:
                pass
    return total


def target_free(paths: HostPaths, target: str) -> tuple[int | None, str]:
    """Free bytes where a directory target's dumps go (the nearest existing directory)."""
    if is_device(target):
        return None, f"{target} is mounted only at capture time ('crashd test --dry-run' mounts it to look)"
    if not target.startswith("/"):
        return None, f"{target}: not an absolute directory"
    path = paths.host(target)
    while not path.exists() and path != paths.root:
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return None, f"statvfs {paths.unhost(path)}: {exc.strerror or exc}"
    return st.f_bavail * st.f_frsize, f"free space of {paths.unhost(path)}"


def estimate_dump(paths: HostPaths, tools: ToolRunner, config: Config, *, use_makedumpfile: bool = True,
                  free: tuple[int | None, str] | None = None) -> DumpEstimate:
    """The dump at the first configured level (the one tried first) against the target."""
    level = config.capture.dump_level[0]
    kept: int | None = None
    how = ""
    have_mdf = tools.which("makedumpfile") is not None
    copy = config.capture.collector == "copy" or (config.capture.collector == "auto" and not have_mdf)
    if copy:
        # the native copy keeps every page (zero pages become holes on a sparse target)
        level = 0
        ram = system_ram(paths)
        kept, how = (ram or None), "copy collector: all of System RAM in /proc/iomem (zero pages stored sparse)"
    elif use_makedumpfile and have_mdf:
        try:
            result = tools.run(["makedumpfile", "--mem-usage", str(paths.proc("kcore"))], timeout=MEM_USAGE_TIMEOUT)
        except ToolError as exc:
            how = f"makedumpfile --mem-usage failed ({exc}); "
        else:
            parsed = parse_mem_usage(result.stdout)
            if parsed is not None:
                kept = kept_from_mem_usage(*parsed, level)
                how = "makedumpfile --mem-usage /proc/kcore"
            else:
                detail = " ".join((result.stderr or result.stdout).split())[:160]
                how = f"makedumpfile --mem-usage gave no page counts ({detail or f'exit {result.returncode}'}); "
    if kept is None:
        meminfo = read_value(paths.proc("meminfo"))
        approx = kept_from_meminfo(meminfo, level) if meminfo else None
        if approx is not None:
            kept, how = approx, how + "approximation from /proc/meminfo (MemTotal minus what the level excludes)"
        else:
            ram = system_ram(paths)
            kept, how = (ram or None), how + "upper bound: System RAM in /proc/iomem"
    compression = "none" if copy else config.capture.compression
    ratio = COMPRESSION_RATIO.get(compression, 1.0)
    written = int(kept / ratio) if kept is not None else None
    if ratio != 1.0:
        how += f"; {compression} compression / {ratio} (stated ratio)"
    free_bytes, target_how = free if free is not None else target_free(paths, config.capture.target)
    return DumpEstimate(level, kept, written, how, config.capture.target, free_bytes,
                        config.capture.min_free, target_how)
