"""Fuzzing: mutated synthetic and real dumps. Only CrashdError may escape; every input ends in
bounded time (hypothesis deadline) and bounded memory (tracemalloc peak)."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import shutil
import struct
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashd.core.errors import CrashdError
from crashd.vmcore import dmesg_of, open_dump
from tests.vmcore_builder import (
    Machine,
    build_arm32_machine,
    build_machine,
    elf32_bytes,
    elf_bytes,
    flat_bytes,
    kdump_bytes,
    vector_a,
    vector_e_log_buf,
)

FUZZ = settings(
    max_examples=40,
    deadline=5000,  # ms per input: a hang shows up as DeadlineExceeded
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
MEMORY_BOUND = 64 << 20

INTERESTING = [0, 1, 3, 0xFF, 0xFFFF, 0xFFFFFFFF, 1 << 31, 1 << 63, (1 << 64) - 1, 0x3FFFFFFFFFFFFFFF, 4096]


def exercise(path: Path, *, twice: bool = True, traced: bool = True) -> None:
    """Everything a user can ask of a dump; CrashdError is an acceptable answer.

    Memory: tracemalloc's peak (exact, but ~10x slower), or with ``traced=False`` the growth
    of the process's peak RSS (coarse; for the big real dumps)."""
    if not traced:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _exercise(path, twice)
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
        assert grown < MEMORY_BOUND, f"peak RSS grew by {grown} bytes"
        return
    tracemalloc.start()
    try:
        _exercise(path, twice)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"peak {peak} bytes"


def _exercise(path: Path, twice: bool) -> None:
    try:
        with open_dump(path) as d:
            for style in ("vmcore-dmesg", "dmesg"):
                try:
                    d.dmesg_text(style)
                except CrashdError:
                    pass
            d.uts_check()
            _ = [d.symbolize(c.pc) for c in d.cpus]
            _ = [c.to_dict() for c in d.cpus], d.kernel_release, d.crash_time, d.complete, list(d.warnings)
            _ = dict(d.vmcoreinfo)
    except CrashdError:
        pass
    if twice:
        try:
            dmesg_of(path)
        except CrashdError:
            pass


mutation = st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255))
word_mutation = st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(INTERESTING))


def mutate(data: bytes, bytes_: list[tuple[float, int]], words: list[tuple[float, int]], cut: float | None) -> bytes:
    buf = bytearray(data)
    for where, value in bytes_:
        buf[int(where * len(buf))] = value
    for where, value in words:
        pos = int(where * len(buf)) & ~7
        if pos + 8 <= len(buf):
            struct.pack_into("<Q", buf, pos, value)
    if cut is not None:
        del buf[int(cut * len(buf)) :]
    return bytes(buf)


SYNTH = {
    "elf": elf_bytes(vector_a())[0],
    "elf-novaddr": elf_bytes(vector_a(), no_vaddr=True)[0],
    "logbuf": elf_bytes(vector_e_log_buf()[0])[0],
    "kdump": kdump_bytes(vector_a(), raw_pfns=[0x49001]),
    "flat": flat_bytes(kdump_bytes(vector_a()), chunk=5000),
}


@pytest.mark.parametrize("kind", sorted(SYNTH))
@FUZZ
@given(
    bytes_=st.lists(mutation, max_size=8),
    words=st.lists(word_mutation, max_size=4),
    cut=st.none() | st.floats(0, 1),
)
def test_mutated_synthetic_dumps(tmp_path: Path, kind: str, bytes_: list[tuple[float, int]],
                                 words: list[tuple[float, int]], cut: float | None) -> None:
    path = tmp_path / "fuzz"
    path.write_bytes(mutate(SYNTH[kind], bytes_, words, cut))
    exercise(path)


@FUZZ
@given(data=st.binary(max_size=600), prefix=st.sampled_from([b"", b"\x7fELF\x02\x01\x01", b"KDUMP   ",
                                                               b"makedumpfile\0\0\0\0", b"DISKDUMP"]))
def test_random_bytes_behind_real_signatures(tmp_path: Path, data: bytes, prefix: bytes) -> None:
    path = tmp_path / "rand"
    path.write_bytes(prefix + data)
    exercise(path)


@pytest.fixture(scope="module")
def real_copy(tmp_path_factory: pytest.TempPathFactory, ref_vmcores: Path) -> Iterator[Path]:
    """A private copy of the real kdump-compressed dump, mutated in place and restored per example."""
    src = ref_vmcores / "x86_64-6.1-sysrq.kdump-zlib"
    dst = tmp_path_factory.mktemp("fuzz-real") / "kdump"
    shutil.copyfile(src, dst)
    yield dst


@settings(FUZZ, max_examples=10)
@given(hits=st.lists(st.tuples(st.integers(0, (1 << 16) - 8), st.sampled_from(INTERESTING)), min_size=1, max_size=4))
def test_mutated_real_kdump_headers(real_copy: Path, hits: list[tuple[int, int]]) -> None:
    """Header, sub-header, notes, bitmaps and the start of the page table live in the first 64 KiB."""
    fd = os.open(real_copy, os.O_RDWR)
    saved = [(pos, os.pread(fd, 8, pos)) for pos, _ in hits]
    try:
        for pos, value in hits:
            os.pwrite(fd, struct.pack("<Q", value), pos)
        exercise(real_copy, twice=False, traced=False)
    finally:
        for pos, old in reversed(saved):
            os.pwrite(fd, old, pos)
        os.close(fd)


# --------------------------------------------------------------------------- targeted parsers
# One target per parser: mutations confined to the bytes that parser reads, so that the
# examples reach it instead of dying in an earlier check.

HOSTILE_VALUES = ["-1", "-4096", "0", "1", "4096", "0x10", "12345678901234567890123456789", "9" * 5000,
                  "ffffffffffffffff", "1" + "0" * 19, "-9223372036854775809", "18446744073709551616",
                  "0xffffffffffffffffff", "", "abc", "1e9", " 12", "\x1b[31m6.1", "4097", "65536", "nan"]


def _with_vmcoreinfo(m: Machine, changes: list[tuple[int, str]]) -> Machine:
    lines = m.vmcoreinfo.splitlines()
    for where, value in changes:
        i = where % len(lines)
        key = lines[i].partition("=")[0]
        lines[i] = f"{key}={value}"
    return replace(m, vmcoreinfo="\n".join(lines) + "\n")


def _inspect_cli(path: Path) -> None:
    """``crashd inspect`` (text and JSON) in-process: CrashdError becomes exit 1, nothing else escapes."""
    from crashd.cli import main

    for argv in (["inspect", str(path)], ["inspect", "--json", str(path)], ["dmesg", str(path)]):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            rc = main(argv)
        assert rc in (0, 1), (argv, rc)
        assert "Traceback" not in err.getvalue()
        if rc == 1:
            assert len(err.getvalue().splitlines()) >= 1


VMCOREINFO_MACHINES = {
    "x86_64": vector_a(),
    "logbuf": vector_e_log_buf()[0],
    "arm32": build_arm32_machine(["hello from armhf", "Kernel panic - not syncing: x"])[0],
    "arm64": build_machine(["arm64 says hi"], arch="aarch64")[0],
}


@pytest.mark.parametrize("arch", sorted(VMCOREINFO_MACHINES))
@FUZZ
@given(changes=st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(HOSTILE_VALUES) | st.text(max_size=30)),
                        min_size=1, max_size=6))
def test_hostile_vmcoreinfo_values(tmp_path: Path, arch: str, changes: list[tuple[int, str]]) -> None:
    """Issue 10 F2: 164 tracebacks in 29,247 cases (negative OFFSET(), 29-digit CRASHTIME)."""
    m = _with_vmcoreinfo(VMCOREINFO_MACHINES[arch], changes)
    path = tmp_path / "vi"
    path.write_bytes(elf32_bytes(m) if m.arch == "arm" else elf_bytes(m)[0])
    exercise(path)
    _inspect_cli(path)


def _confined(data: bytes, start: int, end: int, words: list[tuple[float, int]], cut: float | None = None) -> bytes:
    buf = bytearray(data)
    for where, value in words:
        pos = start + (int(where * (end - start)) & ~3)
        if pos + 8 <= min(end, len(buf)):
            struct.pack_into("<Q", buf, pos, value)
        elif pos + 4 <= len(buf):
            struct.pack_into("<I", buf, pos, value & 0xFFFFFFFF)
    if cut is not None:
        del buf[start + int(cut * (end - start)) :]
    return bytes(buf)


_ELF = SYNTH["elf"]
_KDUMP = SYNTH["kdump"]
_KDUMP32 = kdump_bytes(VMCOREINFO_MACHINES["arm32"])
_FLAT = SYNTH["flat"]
REGIONS = {
    # ELF header, program headers and the note segment (the first page)
    "elf-header-notes": (_ELF, 0, 4096),
    # kdump main header, sub-header with notes and VMCOREINFO, the bitmaps and page table start
    "kdump-header": (_KDUMP, 0, 4 * 4096),
    "kdump-arm32-header": (_KDUMP32, 0, 4 * 4096),
    # the flattened stream's record headers and first records
    "flat-records": (_FLAT, 4096, 4096 + 3 * 5016),
}


@pytest.mark.parametrize("region", sorted(REGIONS))
@FUZZ
@given(words=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from(INTERESTING) |
                                st.integers(0, (1 << 64) - 1)), min_size=1, max_size=6),
       cut=st.none() | st.floats(0, 1))
def test_parser_headers(tmp_path: Path, region: str, words: list[tuple[float, int]], cut: float | None) -> None:
    data, start, end = REGIONS[region]
    path = tmp_path / "hdr"
    path.write_bytes(_confined(data, start, end, words, cut))
    exercise(path)


@pytest.mark.parametrize("arch", ["x86_64", "arm32"])
@FUZZ
@given(hits=st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1, exclude_max=True), st.sampled_from(INTERESTING)),
                     min_size=1, max_size=6))
def test_printk_ring_structures(tmp_path: Path, arch: str, hits: list[tuple[int, float, int]]) -> None:
    """The lockless ring read from a synthetic dump whose ring structure, descriptors, infos and
    text (segment 0: the prb pointer and struct; segment 1: the ring arrays) are corrupted."""
    m = VMCOREINFO_MACHINES[arch]
    segments = [replace(s, data=bytearray(s.data)) for s in m.segments]
    word = 4 if arch == "arm32" else 8
    for seg, where, value in hits:
        data = segments[seg].data
        pos = int(where * len(data)) & ~(word - 1)
        if seg == 0:
            pos = 0x80 + (pos % 0x100)  # the prb pointer and the printk_ringbuffer
        data[pos : pos + word] = (value & ((1 << (8 * word)) - 1)).to_bytes(word, "little")
    hurt = replace(m, segments=segments)
    path = tmp_path / "ring"
    path.write_bytes(elf32_bytes(hurt) if arch == "arm32" else elf_bytes(hurt)[0])
    exercise(path)
