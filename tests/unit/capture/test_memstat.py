"""crashd.capture.memstat: what the save cost in memory, as capture.json says it."""

from __future__ import annotations

import json
import resource
from pathlib import Path

from crashd.capture.memstat import MemoryWatch, meminfo

MEMINFO = """\
MemTotal:          {total} kB
MemFree:           40000 kB
MemAvailable:      {avail} kB
HugePages_Total:       0
Hugepagesize:       2048 kB
"""


def _write(path: Path, total: int, avail: int) -> None:
    path.write_text(MEMINFO.format(total=total, avail=avail))


def test_meminfo_reads_kb_as_bytes_and_counts_as_counts(tmp_path: Path) -> None:
    f = tmp_path / "meminfo"
    _write(f, 60000, 50000)
    info = meminfo(f)
    assert info["MemTotal"] == 60000 * 1024 and info["MemAvailable"] == 50000 * 1024
    assert info["HugePages_Total"] == 0
    assert meminfo(tmp_path / "absent") == {}


def test_the_lowest_memavailable_seen_is_kept(tmp_path: Path) -> None:
    f = tmp_path / "meminfo"
    _write(f, 60000, 50000)
    watch = MemoryWatch(f)
    _write(f, 60000, 20000)
    watch.sample()
    _write(f, 60000, 45000)
    fig = watch.figures()
    assert fig["mem_total"] == 60000 * 1024
    assert fig["mem_available_start"] == 50000 * 1024 and fig["mem_available_min"] == 20000 * 1024
    assert 0 < fig["crashd_peak_rss"] <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    line = MemoryWatch.describe(fig)
    assert "MemTotal 58.6 MiB, MemAvailable 48.8 MiB at the start, 19.5 MiB at the lowest" in line
    json.dumps(fig)


def test_no_meminfo_is_unknown_not_zero(tmp_path: Path) -> None:
    fig = MemoryWatch(tmp_path / "absent").figures()
    assert fig["mem_total"] is None and fig["mem_available_start"] is None and fig["mem_available_min"] is None
    assert "MemTotal ?, MemAvailable ? at the start" in MemoryWatch.describe(fig)
