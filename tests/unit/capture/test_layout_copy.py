"""The ELF layout parser and the native sparse copy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashd.capture.copy import CopyResult, NoSpace, copy_vmcore
from crashd.capture.layout import PT_LOAD, PT_NOTE, Layout, read_layout
from crashd.capture.space import Space
from crashd.core.errors import VmcoreError

from .elfcore import PAGE, Load, pattern, write_core


def _layout(path: Path) -> Layout:
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_layout(fd)
    finally:
        os.close(fd)


def _copy(src: Path, dst: Path, **kw: Any) -> CopyResult:
    s = os.open(src, os.O_RDONLY)
    d = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        return copy_vmcore(s, d, _layout(src), **kw)
    finally:
        os.close(s)
        os.close(d)


@pytest.mark.parametrize("elf32,big", [(False, False), (True, False), (False, True)])
def test_layout_reads_segments_and_vmcoreinfo(tmp_path: Path, elf32: bool, big: bool) -> None:
    core = write_core(
        tmp_path / "core", [Load(3 * PAGE, pages=pattern(1)), Load(PAGE + 100, pages=pattern(2))],
        release="6.1.0-56-amd64", elf32=elf32, big_endian=big,
    )
    lay = _layout(core)
    assert [s.type for s in lay.segments] == [PT_NOTE, PT_LOAD, PT_LOAD]
    assert lay.osrelease == "6.1.0-56-amd64"
    assert lay.page_size == PAGE
    assert lay.file_size == core.stat().st_size
    assert lay.load_bytes == 4 * PAGE + 100
    # Regions are sorted and disjoint and cover the header.
    regions = lay.regions()
    assert regions[0][0] == 0
    assert all(a[1] < b[0] for a, b in zip(regions, regions[1:], strict=False))


def test_layout_rejects_non_elf_and_non_core(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_bytes(b"KDUMP   " + bytes(100))
    with pytest.raises(VmcoreError, match="not an ELF"):
        _layout(bad)
    exe = tmp_path / "exe"
    exe.write_bytes(Path("/bin/true").read_bytes()[:4096])
    with pytest.raises(VmcoreError, match="not a core"):
        _layout(exe)


def test_layout_truncated_header(tmp_path: Path) -> None:
    core = write_core(tmp_path / "core", [Load(PAGE, pages=pattern(1))] * 4)
    short = tmp_path / "short"
    short.write_bytes(core.read_bytes()[:100])
    with pytest.raises(VmcoreError, match="truncated"):
        _layout(short)


@pytest.mark.parametrize("align", [True, False])
@pytest.mark.parametrize("buf", [1 << 20, 3 * PAGE + 17])
def test_copy_is_byte_identical_and_sparse(tmp_path: Path, align: bool, buf: int) -> None:
    loads = [
        Load(40 * PAGE, pages=pattern(7, density=2)),
        Load(16 * PAGE, memsz_extra=8 * PAGE),  # all zero
        Load(5 * PAGE + 123, pages=pattern(9, density=4)),
    ]
    src = write_core(tmp_path / "core", loads, align=align)
    dst = tmp_path / "copy"
    result = _copy(src, dst, buf_size=buf)
    assert dst.read_bytes() == src.read_bytes()
    assert result.size == src.stat().st_size
    assert result.unreadable_pages == 0
    # Only file blocks holding a non-zero byte were written; the rest are holes.
    data = src.read_bytes()
    nonzero_blocks = sum(1 for i in range(0, len(data), PAGE) if data[i : i + PAGE].count(0) != len(data[i : i + PAGE]))
    assert nonzero_blocks < len(data) // PAGE * 0.9
    assert result.written <= nonzero_blocks * PAGE
    dense = tmp_path / "dense"
    shutil.copyfile(src, dense)  # a plain copy fills every hole
    subprocess.run(["sync"], check=True)
    assert dst.stat().st_blocks < dense.stat().st_blocks


def test_copy_skips_padding_outside_segments(tmp_path: Path) -> None:
    """Bytes no header points at are not read: a copy of a core whose padding
    was scribbled on still has zeros there (the kernel pads with zeros)."""
    src = write_core(tmp_path / "core", [Load(2 * PAGE, pages=pattern(3, density=5))])
    lay = _layout(src)
    gap_at = lay.regions()[0][1]
    assert lay.regions()[1][0] - gap_at > 16  # aligned: there is padding
    with open(src, "r+b") as f:
        f.seek(gap_at)
        f.write(b"\xff" * 16)
    dst = tmp_path / "copy"
    _copy(src, dst)
    data = dst.read_bytes()
    assert data[gap_at : gap_at + 16] == bytes(16)
    assert data[: gap_at] == src.read_bytes()[:gap_at]
    assert data[lay.regions()[1][0] :] == src.read_bytes()[lay.regions()[1][0] :]


class _Statvfs:
    """A file system with ``free`` bytes left, as statvfs reports it."""

    def __init__(self, free: int):
        self.free = free

    def __call__(self, path: object) -> os.statvfs_result:
        return os.statvfs_result((4096, 4096, 1 << 20, self.free // 4096, self.free // 4096, 1000, 1000, 1000, 0, 255))


def test_copy_stops_before_eating_min_free(tmp_path: Path) -> None:
    src = write_core(tmp_path / "core", [Load(40 << 20, pages=pattern(5, density=50))])
    space = Space(tmp_path, min_free=64 << 20, statvfs=_Statvfs(10 << 20))
    with pytest.raises(NoSpace, match="min_free"):
        _copy(src, tmp_path / "copy", space=space)


def _can_mount_tmpfs(where: Path) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    where.mkdir(exist_ok=True)
    ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True).returncode == 0
    return ok


def test_copy_on_a_full_tmpfs_raises_nospace(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    if not _can_mount_tmpfs(mnt):
        pytest.skip("needs root to mount a small tmpfs")
    try:
        src = write_core(tmp_path / "core", [Load(8 << 20, pages=pattern(5, density=100))])
        with pytest.raises(NoSpace, match="target full"):
            _copy(src, mnt / "copy")
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    zero_runs=st.lists(st.tuples(st.integers(0, 30 * PAGE), st.integers(1, 3 * PAGE)), max_size=8),
    sizes=st.lists(st.integers(1, 9 * PAGE), min_size=1, max_size=3),
    buf_pages=st.integers(1, 5),
    align=st.booleans(),
)
def test_copy_holes_never_change_bytes(
    tmp_path: Path, zero_runs: list[tuple[int, int]], sizes: list[int], buf_pages: int, align: bool
) -> None:
    """Zero runs at any byte offset and length, segments of any size, any buffer:
    the copy reads back identical, and no all-zero file block is written."""
    loads = []
    for size in sizes:
        data = bytearray((bytes(range(1, 256)) * (size // 255 + 1))[:size])
        for start, length in zero_runs:
            if start < size:
                data[start : start + length] = bytes(len(data[start : start + length]))
        loads.append(Load(size, data=bytes(data)))
    case = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
    case.mkdir()
    src = write_core(case / "core", loads, align=align)
    result = _copy(src, case / "copy", buf_size=buf_pages * PAGE)
    copied = src.read_bytes()
    assert (case / "copy").read_bytes() == copied
    nonzero_blocks = sum(1 for i in range(0, len(copied), PAGE) if copied[i : i + PAGE].count(0) != len(copied[i : i + PAGE]))
    assert result.written <= nonzero_blocks * PAGE
