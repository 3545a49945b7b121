"""Vector H (kdump-compressed, §7.7) and Vector I (flattened, §7.8)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crashd.core.errors import VmcoreError
from crashd.vmcore import dmesg_of, kdump, open_dump
from crashd.vmcore.kdump import FlatReader, KdumpVmcore
from crashd.vmcore.memory import NotInDump, PageExcluded, PageIncomplete, Source
from tests.unit.vmcore.bounded import run_bounded
from tests.vmcore_builder import VECTOR_A_EXPECTED, flat_bytes, kdump_bytes, vector_a


def _write(tmp_path: Path, data: bytes, name: str = "dump") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("codec", ["zlib", "lzo", "snappy", "zstd", "none"])
def test_vector_h_every_codec_gives_vector_a_text(tmp_path: Path, codec: str) -> None:
    path = _write(tmp_path, kdump_bytes(vector_a(), compression=codec, raw_pfns=[0x49001]))
    with open_dump(path) as d:
        assert d.format == "kdump"
        assert d.kernel_release == "6.8.0-synth"
        assert d.dmesg_text() == VECTOR_A_EXPECTED
        assert [c.pid for c in d.cpus] == [0, 1234]
        assert d.complete is True


def test_vector_h_excluded_hole_and_incomplete_pages(tmp_path: Path) -> None:
    path = _write(tmp_path, kdump_bytes(vector_a(), excluded_pfns=[0x49004]))
    with open_dump(path) as d:
        c = d.container
        with pytest.raises(PageExcluded):
            c.read_phys(0x49004 * 4096, 8)
        with pytest.raises(NotInDump):
            c.read_phys(0x49005 * 4096, 8)
        assert c.read_phys(0x49000 * 4096 + 0x80, 8) == struct.pack("<Q", 0xFFFFFFFF9F000100)
    inc = _write(tmp_path, kdump_bytes(vector_a(), incomplete_last=True), "inc")
    with open_dump(inc) as d:
        assert d.complete is False
        with pytest.raises(PageIncomplete):
            d.container.read_phys(0x100003 * 4096, 8)


def test_unknown_compression_flag_is_a_clear_error(tmp_path: Path) -> None:
    path = _write(tmp_path, kdump_bytes(vector_a(), force_flags=0x40))
    text, warnings = dmesg_of(path)
    assert text == ""
    assert "compression" in warnings[-1]


def test_missing_codec_names_the_package() -> None:
    from crashd.vmcore.memory import UnsupportedCompression

    assert "python-lzo" in str(UnsupportedCompression("lzo"))
    assert "zstandard" in str(UnsupportedCompression("zstd"))
    assert "cramjam" in str(UnsupportedCompression("snappy"))


def test_vector_i_flattened_reconstructs_byte_for_byte(tmp_path: Path) -> None:
    image = kdump_bytes(vector_a())
    path = _write(tmp_path, flat_bytes(image, chunk=3000))
    src = Source(path)
    try:
        flat = FlatReader(src)
        assert flat.size == len(image)
        assert flat.pread(0, len(image)) == image
        assert flat.pread(4090, 20) == image[4090:4110]
        assert KdumpVmcore(flat, str(path)).uts_release == "6.8.0-synth"
    finally:
        src.close()
    with open_dump(path) as d:
        assert d.format == "flat"
        assert d.dmesg_text() == VECTOR_A_EXPECTED


def test_flattened_later_records_overwrite_earlier_ones(tmp_path: Path) -> None:
    hdr = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    recs = [(0, b"AAAAAAAA"), (4, b"BBBBBBBB"), (2, b"CC"), (20, b"D")]
    for off, data in recs:
        hdr += struct.pack(">qq", off, len(data)) + data
    hdr += struct.pack(">qq", -1, -1)
    path = _write(tmp_path, bytes(hdr))
    src = Source(path)
    try:
        assert FlatReader(src).pread(0, 21) == b"AACCBBBBBBBB" + bytes(8) + b"D"
    finally:
        src.close()


def test_truncated_flattened_stream_is_reported(tmp_path: Path) -> None:
    data = flat_bytes(kdump_bytes(vector_a()))
    path = _write(tmp_path, data[: len(data) * 6 // 10])
    with open_dump(path) as d:
        assert d.complete is False
        assert any("truncated flattened dump" in w for w in d.warnings)


def test_corrupt_flattened_record_is_refused(tmp_path: Path) -> None:
    hdr = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    hdr += struct.pack(">qq", -5, 10)
    with pytest.raises(VmcoreError, match="corrupt flattened"):
        open_dump(_write(tmp_path, bytes(hdr)))


def test_arm64_kdump(tmp_path: Path) -> None:
    from tests.vmcore_builder import write_kdump_vmcore

    path = tmp_path / "a64"
    expected = write_kdump_vmcore(path, ["arm64 says hi"], arch="aarch64")
    with open_dump(path) as d:
        assert d.machine == "aarch64"
        assert d.dmesg_text() == expected


def test_arm32_kdump_uses_the_ilp32_layout_and_ram_relative_pfns(tmp_path: Path) -> None:
    from tests.vmcore_builder import build_arm32_machine

    m, expected = build_arm32_machine(["hello from armhf", "Kernel panic - not syncing: x"])
    path = _write(tmp_path, kdump_bytes(m))
    with open_dump(path) as d:
        assert d.machine == "arm"
        assert d.kernel_release == "6.1.0-32-armmp"
        assert d.dmesg_text() == expected
        assert [c.pid for c in d.cpus] == [0, 321]


def test_old_diskdump_signature_is_recognised_and_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, b"DISKDUMP" + bytes(4088))
    with pytest.raises(VmcoreError, match="DISKDUMP"):
        open_dump(path)


def _flat_stream(records: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    for off, data in records:
        out += struct.pack(">qq", off, len(data)) + data
    return bytes(out + struct.pack(">qq", -1, -1))


def _painted(records: list[tuple[int, bytes]]) -> bytes:
    """The reconstructed file, by the obvious method: write every record in stream order."""
    buf = bytearray(max((o + len(d) for o, d in records), default=0))
    for off, data in records:
        buf[off : off + len(data)] = data
    return bytes(buf)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.binary(min_size=1, max_size=40)), max_size=40))
def test_flattened_index_equals_writing_every_record_in_order(tmp_path_factory: pytest.TempPathFactory,
                                                               records: list[tuple[int, bytes]]) -> None:
    path = tmp_path_factory.mktemp("flat") / "f"
    path.write_bytes(_flat_stream(records))
    src = Source(path)
    try:
        flat = FlatReader(src)
        want = _painted(records)
        assert flat.size == len(want)
        assert flat.pread(0, len(want) + 10) == want
        for at in range(0, len(want), 7):
            assert flat.pread(at, 13) == want[at : at + 13]
    finally:
        src.close()


@pytest.mark.parametrize("order", ["descending", "ascending-overlapping"])
def test_half_a_million_tiny_records_index_in_bounded_time_and_memory(tmp_path: Path, order: str) -> None:
    """Issue 10 F2: descending one-byte records made the index quadratic (1 M: > 120 s)."""
    n = 500_000
    offsets = range(n - 1, -1, -1) if order == "descending" else range(n)
    size = 1 if order == "descending" else 2
    path = _write(tmp_path, _flat_stream([(o, bytes([o & 0xFF]) * size) for o in offsets]))
    out = run_bounded(
        "from crashd.vmcore.kdump import FlatReader\n"
        "from crashd.vmcore.memory import Source\n"
        f"f = FlatReader(Source({str(path)!r}))\n"
        "print(f.size, f.intervals, f.pread(1000, 3).hex())\n",
        cpu_seconds=15, memory=384 << 20,
    )
    assert out.split() == [str(n + size - 1), str(n if size == 1 else n), bytes([0xE8, 0xE9, 0xEA]).hex()]


def test_a_flattened_stream_of_too_many_records_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kdump, "MAX_FLAT_RECORDS", 100)
    path = _write(tmp_path, _flat_stream([(o, b"x") for o in range(101)]))
    with pytest.raises(VmcoreError, match="more than 100 flattened records"):
        open_dump(path)
