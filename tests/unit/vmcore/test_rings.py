"""Ring edge cases: id and lpos overflow, wrapped and exact-fit blocks, committed records, log_buf."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from crashd.core.errors import VmcoreError
from crashd.vmcore import dmesg_of, open_dump
from tests.vmcore_builder import Msg, build_machine, elf_bytes, vector_e_log_buf, write_elf

MSGS = [f"record {i} " + "y" * (i * 7 % 40) for i in range(12)]


@pytest.mark.parametrize(
    "opts",
    [
        {"first_id": (1 << 32) - 3},  # ids cross 2^32 (64-bit kernels after ~4096 records)
        {"first_id": (1 << 62) - 3},  # ids wrap the 62-bit id mask
        {"first_lpos": (1 << 64) - 40},  # lpos overflows 2^64 inside the ring
        {"first_lpos": (1 << 64) - 512 - 200, "size_bits": 10},  # a block wraps the array end
        {"first_lpos": 3 * 1024 + 1024 - 8 * 9, "size_bits": 10},
        {"first_lpos": (1 << 64) - 24, "wrap_exact": True},  # "record 0 " fills the end exactly: old kernels wrap
        {"first_lpos": (1 << 64) - 24},  # ... new kernels (6.18+) do not
    ],
)
def test_positions_and_ids_that_overflow_or_wrap(tmp_path: Path, opts: dict[str, int]) -> None:
    m, expected = build_machine(MSGS, **opts)  # type: ignore[arg-type]
    path = tmp_path / "r.elf"
    write_elf(path, m)
    assert dmesg_of(path) == (expected, [])


def test_exact_fit_block_is_read_in_place_on_new_kernels(tmp_path: Path) -> None:
    # "record 0 " is 9 bytes -> block 24 bytes; start 24 bytes before the end: exact fit
    m, expected = build_machine(["exactfit", "after"], first_lpos=(1 << 64) - 16, size_bits=9)
    path = tmp_path / "x.elf"
    write_elf(path, m)
    assert dmesg_of(path)[0] == expected


def test_committed_kept_reserved_and_reusable_skipped(tmp_path: Path) -> None:
    msgs = [Msg(b"done", 1_000_000_000), Msg(b"busy", 2_000_000_000, state=0),
            Msg(b"stale", 3_000_000_000, state=3), Msg(b"last", 4_000_000_000, state=1)]
    m, _ = build_machine(msgs)
    path = tmp_path / "c.elf"
    write_elf(path, m)
    with open_dump(path) as d:
        recs = d.log_records()
    assert [(r.text, r.state) for r in recs] == [("done", "finalized"), ("last", "committed")]


def test_lost_text_prints_the_timestamp_like_vmcore_dmesg(tmp_path: Path) -> None:
    m, _ = build_machine([Msg(b"x", 1_000_000_000, lpos=(1, 1)), Msg(b"ok", 2_000_000_000)])
    path = tmp_path / "l.elf"
    write_elf(path, m)
    with open_dump(path) as d:
        assert d.dmesg_text() == "[    1.000000] \n[    2.000000] ok\n"
        assert d.log_records()[0].text_lost is True


def test_vector_e_structured_log_buf_skips_the_wrap_marker(tmp_path: Path) -> None:
    m, expected = vector_e_log_buf()
    path = tmp_path / "e.elf"
    write_elf(path, m)
    with open_dump(path) as d:
        assert d.dmesg_text() == expected
        recs = d.log_records()
    assert "[    0.000000]" not in expected
    assert recs[0].subsystem == "net"


def test_vector_e_equal_indices_mean_empty(tmp_path: Path) -> None:
    m, expected = vector_e_log_buf(first=0x58, nxt=0x58)
    path = tmp_path / "e0.elf"
    write_elf(path, m)
    assert expected == ""
    assert dmesg_of(path) == ("", [])


def test_chunked_and_per_record_paths_give_the_same_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Huge rings are read in descriptor chunks and record by record; force both on a small one."""
    from crashd.vmcore import printk

    m, expected = build_machine(MSGS, first_id=(1 << 32) - 5, first_lpos=(1 << 64) - 512 - 200, size_bits=10)
    path = tmp_path / "chunk.elf"
    write_elf(path, m)
    monkeypatch.setattr(printk, "CHUNK", 3)
    monkeypatch.setattr(printk, "WHOLE_TEXT_MAX", 64)
    assert dmesg_of(path) == (expected, [])


def test_implausible_ring_header_is_an_error_not_a_hang(tmp_path: Path) -> None:
    import struct

    from tests.vmcore_builder import IMG_VA

    m, _ = build_machine(MSGS)
    m.segments[0].put(IMG_VA + 0x100, struct.pack("<I", 40))  # count_bits 40
    path = tmp_path / "bad.elf"
    write_elf(path, m)
    text, warnings = dmesg_of(path)
    assert text == "" and "implausible" in warnings[-1]


@pytest.mark.parametrize("length", [64, 256])
def test_legacy_character_ring_keeps_its_last_bytes(tmp_path: Path, length: int) -> None:
    from tests.vmcore_builder import legacy_log_buf

    m, kept = legacy_log_buf(length=length)
    path = tmp_path / "legacy.elf"
    write_elf(path, m)
    assert dmesg_of(path) == (kept.decode(), [])


def test_arm32_ring_with_30_bit_ids_and_32_bit_lpos(tmp_path: Path) -> None:
    from tests.vmcore_builder import build_arm32_machine, elf32_bytes

    m, expected = build_arm32_machine(MSGS, first_id=(1 << 30) - 5, first_lpos=(1 << 32) - 40)
    path = tmp_path / "arm32.elf"
    path.write_bytes(elf32_bytes(m))
    with open_dump(path) as d:
        assert d.machine == "arm"
        assert d.dmesg_text() == expected
        assert [(c.pid, c.pc, c.sp) for c in d.cpus] == [(0, 0xC0101234, 0xC1A01F00), (321, 0xC0204567, 0xC2B03E00)]
        assert d.uts_check() is None


def test_arm32_elf_without_vaddr_uses_the_lowmem_linear_map(tmp_path: Path) -> None:
    from tests.vmcore_builder import build_arm32_machine, elf32_bytes

    m, expected = build_arm32_machine(MSGS)
    path = tmp_path / "arm32nv.elf"
    path.write_bytes(elf32_bytes(m, no_vaddr=True))
    with open_dump(path) as d:
        assert d.dmesg_text() == expected
        assert d.uts_check() is None


@pytest.mark.parametrize("key", ["OFFSET(printk_log.len)=15", "OFFSET(printk_log.ts_nsec)=12", "SIZE(printk_log)=8"])
def test_a_printk_log_layout_outside_its_header_is_refused(tmp_path: Path, key: str) -> None:
    m, _ = vector_e_log_buf()
    name = key.partition("=")[0]
    lines = [ln for ln in m.vmcoreinfo.splitlines() if not ln.startswith(name + "=")] + [key]
    path = tmp_path / "lb"
    path.write_bytes(elf_bytes(replace(m, vmcoreinfo="\n".join(lines) + "\n"))[0])
    with open_dump(path) as d, pytest.raises(VmcoreError, match="printk_log layout in VMCOREINFO is implausible"):
        d.dmesg_text()
