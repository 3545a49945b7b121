"""The real reference dumps in tests/data/vmcores: every format renders the expected text."""

from __future__ import annotations

from pathlib import Path

import pytest

from crashd.vmcore import dmesg_of, open_dump
from tests.conftest import REF


def _expected(ref_vmcores: Path) -> str:
    return (ref_vmcores / f"{REF}.vmcore-dmesg.txt").read_text()


def test_reference_elf(ref_vmcores: Path, reference_elf: Path) -> None:
    with open_dump(reference_elf) as d:
        assert d.format == "elf"
        assert d.dmesg_text() == _expected(ref_vmcores)
        assert d.kernel_release == "6.1.0-56-amd64"
        assert d.vmcoreinfo.number("pgtable_l5_enabled") == 1
        assert d.vmcoreinfo.number("phys_base", signed=True) == -713031680
        assert d.uts_check() is None
        assert d.crash_time == 1795800592
        assert d.kaslr_offset == 0x32000000
        assert [(c.cpu, c.pid) for c in d.cpus] == [(0, 1)]
        assert d.complete is True


@pytest.mark.parametrize("suffix", ["kdump-zlib", "kdump-lzo", "flat"])
def test_reference_makedumpfile_formats(ref_vmcores: Path, suffix: str) -> None:
    path = ref_vmcores / f"{REF}.{suffix}"
    with open_dump(path) as d:
        assert d.format == ("flat" if suffix == "flat" else "kdump")
        assert d.dmesg_text() == _expected(ref_vmcores)
        assert d.kernel_release == "6.1.0-56-amd64"
        # no p_vaddr here: the linear map is reached by a 5-level page-table walk
        assert d.uts_check() is None
        assert d.warnings == []


def test_reference_elf_without_vaddr_still_reads(ref_vmcores: Path, reference_elf: Path) -> None:
    """Ignore the PT_LOAD virtual addresses: phys_base + 5-level walk must find the same log."""
    from crashd.vmcore.translate import Translator

    with open_dump(reference_elf) as d:
        d.translator = Translator(d.container, d.vmcoreinfo, d.e_machine, [], None)
        assert d.dmesg_text() == _expected(ref_vmcores)


def test_reference_truncated_elf_keeps_the_log(tmp_path: Path, ref_vmcores: Path, reference_elf: Path) -> None:
    cut = tmp_path / "cut.elf"
    size = reference_elf.stat().st_size
    with reference_elf.open("rb") as fin, cut.open("wb") as fout:
        left = size * 6 // 10
        while left:
            chunk = fin.read(min(left, 1 << 20))
            fout.write(chunk)
            left -= len(chunk)
    text, warnings = dmesg_of(cut)
    assert "truncated" in warnings[0]
    assert text == _expected(ref_vmcores)


@pytest.mark.parametrize("suffix", ["kdump-zlib", "flat"])
def test_reference_truncated_makedumpfile_formats_warn(tmp_path: Path, ref_vmcores: Path, suffix: str) -> None:
    data = (ref_vmcores / f"{REF}.{suffix}").read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(data[: len(data) // 2])  # the ring's pages start past ~55% of the trimmed flat stream
    text, warnings = dmesg_of(cut)
    assert any("truncated" in w for w in warnings)
    # the ring lies past the cut in pfn order: nothing survives, and we say why
    assert text == "" and "dmesg unavailable" in warnings[-1]


@pytest.mark.parametrize("suffix", ["elf", "kdump-lzo"])
def test_reference_pc_symbolised_from_the_dumps_own_kallsyms(ref_vmcores: Path, reference_elf: Path,
                                                             suffix: str) -> None:
    # crash-bt.txt (crash + debug vmlinux): __crash_kexec, sysrq_handle_crash, panic frames
    path = reference_elf if suffix == "elf" else ref_vmcores / f"{REF}.{suffix}"
    with open_dump(path) as d:
        assert d.symbolize(d.cpus[0].pc) == "__crash_kexec+0x11a/0x130"
        assert d.symbolize(0xFFFFFFFFB3690926) == "sysrq_handle_crash+0x16/0x20"  # as the log prints it
        assert d.symbolize(0xFFFFFFFFB3A01DED) == "panic+0x13d/0x2f4"
        assert d.symbolize(0x47B7A0) is None  # user space
