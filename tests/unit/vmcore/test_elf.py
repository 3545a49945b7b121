"""Vector A (formats.md §7.1) and its failure variants (§7.2, §7.3) through ``open_dump``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from crashd.core.errors import VmcoreError
from crashd.vmcore import dmesg_of, open_dump
from tests.vmcore_builder import (
    DM_PA,
    DM_VA,
    IMG_VA,
    VECTOR_A_EXPECTED,
    build_machine,
    vector_a,
    write_elf,
    write_elf_vmcore,
)


def test_vector_a_renders_exactly_like_vmcore_dmesg(vector_a_elf: Path) -> None:
    with open_dump(vector_a_elf) as d:
        assert d.dmesg_text() == VECTOR_A_EXPECTED
        assert d.warnings == []


def test_vector_a_metadata(vector_a_elf: Path) -> None:
    with open_dump(vector_a_elf) as d:
        assert d.format == "elf"
        assert d.machine == "x86_64"
        assert d.kernel_release == "6.8.0-synth"
        assert d.crash_time == 1720000000
        assert d.kaslr_offset == 0x1E000000
        assert d.page_size == 4096
        assert d.complete is True
        assert d.vmcoreinfo.number("phys_base") == 0x2A000000
        assert d.uts_check() is None
        assert [(c.cpu, c.pid, c.pc) for c in d.cpus] == [(0, 0, 0xFFFFFFFF9FC3A1B2), (1, 1234, 0xFFFFFFFF9F8A1236)]
        assert d.cpus[1].sp == 0xFFFFC90001A3FD88
        assert d.cpus[1].user_mode is False


def test_vector_a_records_carry_structure(vector_a_elf: Path) -> None:
    with open_dump(vector_a_elf) as d:
        recs = d.log_records()
    by_text = {r.text: r for r in recs}
    link = by_text["e1000e 0000:00:19.0 eth0: link up"]
    assert (link.subsystem, link.device, link.caller_str) == ("pci", "+pci:0000:00:19.0", "C2")
    panic = by_text["Kernel panic - not syncing: sysrq triggered crash"]
    assert (panic.seq, panic.level, panic.ts_nsec) == (14, 0, 98765432200)
    end = recs[-1]
    assert end.state == "committed" and end.seq == 17
    assert "x86/fpu" not in "".join(r.text for r in recs)  # the reusable slot is skipped


def test_dmesg_style_prefixes_every_line(vector_a_elf: Path) -> None:
    with open_dump(vector_a_elf) as d:
        text = d.dmesg_text("dmesg")
    assert text.splitlines()[:2] == ["[    1.234567] line one", "[    1.234567] line two"]


def test_vector_b_no_vaddr_uses_phys_base_and_page_walk(tmp_path: Path) -> None:
    path = tmp_path / "b.elf"
    write_elf(path, vector_a(), no_vaddr=True)
    with open_dump(path) as d:
        assert d.translator.va_to_pa(DM_VA) == DM_PA
        assert d.dmesg_text() == VECTOR_A_EXPECTED


def test_vector_b_without_pml4_entry_names_the_descriptor_array(tmp_path: Path) -> None:
    m = vector_a()
    img = m.segments[0]
    img.put(IMG_VA + 0x1000 + 8 * ((DM_VA >> 39) & 511), bytes(8))
    path = tmp_path / "b2.elf"
    write_elf(path, m, no_vaddr=True)
    with open_dump(path) as d:
        with pytest.raises(VmcoreError, match="descriptor array.*not mapped"):
            d.log_records()
        assert d.kernel_release == "6.8.0-synth"
        assert len(d.cpus) == 2


@pytest.mark.parametrize(
    ("opts", "reason"),
    [
        ({"drop_segments": [1]}, "descriptor array.*not in dump"),
        ({"filesz": {1: 0x1000}}, "text ring.*page excluded"),
    ],
)
def test_vector_c_missing_memory_says_why(tmp_path: Path, opts: dict[str, Any], reason: str) -> None:
    path = tmp_path / "c.elf"
    write_elf(path, vector_a(), **opts)
    text, warnings = dmesg_of(path)
    assert text == ""
    assert any("dmesg unavailable" in w for w in warnings)
    import re

    assert re.search(reason, warnings[-1]), warnings


def test_vector_c3_no_printk_keys(tmp_path: Path) -> None:
    m = vector_a()
    m = dataclasses.replace(m, vmcoreinfo="\n".join(
        ln for ln in m.vmcoreinfo.splitlines() if not ln.startswith("SYMBOL(prb)")) + "\n")
    path = tmp_path / "c3.elf"
    write_elf(path, m)
    text, warnings = dmesg_of(path)
    assert text == "" and "no printk information" in warnings[-1]


def test_vector_c4_corrupt_tail_stops_after_one_lap(tmp_path: Path) -> None:
    path = tmp_path / "c4.elf"
    write_elf(path, vector_a(tail_id=0x2 + 5))
    with open_dump(path) as d:
        recs = d.log_records()  # must return, not hang
        assert len(recs) <= 16
        assert any("head was not reached" in w for w in d.warnings)


def test_foreign_and_empty_files_are_refused_clearly(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"#!/bin/sh\necho hi\n")
    with pytest.raises(VmcoreError, match="not a vmcore"):
        open_dump(foreign)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(VmcoreError, match="empty"):
        open_dump(empty)
    exe = tmp_path / "exe"
    exe.write_bytes(Path("/bin/true").read_bytes()[:4096])
    with pytest.raises(VmcoreError, match="not a core dump"):
        open_dump(exe)


def test_incomplete_flag_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "inc.elf"
    write_elf(path, vector_a(), incomplete=True)
    with open_dump(path) as d:
        assert d.complete is False
        assert any("incomplete" in w for w in d.warnings)
        assert d.dmesg_text() == VECTOR_A_EXPECTED


def test_truncated_file_keeps_the_lines_whose_pages_survive(tmp_path: Path) -> None:
    msgs = [f"message number {i:04d} " + "x" * 60 for i in range(300)]
    path = tmp_path / "t.elf"
    expected = write_elf_vmcore(path, msgs)
    full = path.stat().st_size
    cut = tmp_path / "cut.elf"
    cut.write_bytes(path.read_bytes()[: full - 8192])
    text, warnings = dmesg_of(cut)
    assert any("truncated" in w for w in warnings)
    assert any("unreadable" in w for w in warnings)
    lines = text.splitlines()
    assert 0 < len(lines) < len(expected.splitlines())
    assert set(lines) <= set(expected.splitlines())


def test_arm64_elf_with_and_without_vaddr(tmp_path: Path) -> None:
    for no_vaddr in (False, True):
        path = tmp_path / f"arm{no_vaddr}.elf"
        expected = write_elf_vmcore(path, ["hello arm", "Kernel panic - not syncing: x"], arch="aarch64",
                                    no_vaddr=no_vaddr)
        with open_dump(path) as d:
            assert d.machine == "aarch64"
            assert d.dmesg_text() == expected
            assert d.cpus[1].pid == 1234


def test_big_sparse_dump_costs_no_disk_and_reads(tmp_path: Path) -> None:
    path = tmp_path / "big.elf"
    expected = write_elf_vmcore(path, ["one", "two"], sparse_size=256 << 20)
    st = path.stat()
    assert st.st_size > 256 << 20
    assert st.st_blocks * 512 < 16 << 20
    assert dmesg_of(path) == (expected, [])


def test_builder_messages_round_trip_with_odd_bytes(tmp_path: Path) -> None:
    m, expected = build_machine(["tab\there", b"\xff\xfe raw", "", "multi\nline"])
    path = tmp_path / "odd.elf"
    write_elf(path, m)
    assert dmesg_of(path)[0] == expected
    assert "\\xff\\xfe raw" in expected


def test_lying_pt_load_vaddrs_fail_the_uts_check_and_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "lie.elf"
    write_elf(path, vector_a(), vaddr_bias=-0x1000)
    with open_dump(path) as d:
        assert d.dmesg_text() == VECTOR_A_EXPECTED
        assert any("disagree" in w for w in d.warnings)


def test_duplicate_image_mapping_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "dup.elf"
    write_elf(path, vector_a(), duplicate_image=True)
    assert dmesg_of(path) == (VECTOR_A_EXPECTED, [])


def test_no_kallsyms_means_no_symbol(vector_a_elf: Path) -> None:
    with open_dump(vector_a_elf) as d:
        assert d.symbolize(d.cpus[1].pc) is None
