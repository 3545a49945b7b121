"""Address translation paths (formats.md §1.4) and PRSTATUS layouts (§2.3)."""

from __future__ import annotations

import struct

from crashd.vmcore.elf import Load
from crashd.vmcore.prstatus import EM_AARCH64, EM_ARM, parse_prstatus
from crashd.vmcore.translate import Translator
from crashd.vmcore.vmcoreinfo import VmcoreInfo
from tests.vmcore_builder import DM_PA, DM_VA, IMG_PA, IMG_VA, PAGE_OFFSET_BASE, Machine, prstatus_arm64, vector_a


class Phys:
    """Physical memory of a builder Machine."""

    def __init__(self, m: Machine):
        self.m = m

    def read_phys(self, pa: int, size: int) -> bytes:
        for s in self.m.segments:
            if s.paddr <= pa and pa + size <= s.paddr + len(s.data):
                return bytes(s.data[pa - s.paddr : pa - s.paddr + size])
        from crashd.vmcore.memory import NotInDump

        raise NotInDump(pa)


def _translator(m: Machine, loads: list[Load], drop: tuple[str, ...] = ()) -> Translator:
    text = "\n".join(ln for ln in m.vmcoreinfo.splitlines() if not ln.startswith(drop)) if drop else m.vmcoreinfo
    return Translator(Phys(m), VmcoreInfo(text), 62, loads)


def test_three_paths_to_the_linear_segment_agree() -> None:
    m = vector_a()
    by_load = _translator(m, [Load(0x2000, DM_VA, DM_PA, 0x4000, 0x4000)])
    by_walk = _translator(m, [])
    by_delta = _translator(m, [Load(0, PAGE_OFFSET_BASE + 0x1000, 0x1000, 0x1000, 0x1000)],
                           drop=("SYMBOL(init_top_pgt)",))
    for t in (by_load, by_walk, by_delta):
        assert t.va_to_pa(DM_VA) == DM_PA
        assert t.va_to_pa(DM_VA + 0x1234) == DM_PA + 0x1234


def test_image_symbol_via_phys_base() -> None:
    t = _translator(vector_a(), [])
    assert t.va_to_pa(IMG_VA + 0x80) == IMG_PA + 0x80 == 0x49000080


def test_phys_base_derived_from_the_image_load_when_not_exported() -> None:
    t = _translator(vector_a(), [Load(0x1000, IMG_VA, IMG_PA, 0x4000, 0x4000)], drop=("NUMBER(phys_base)",))
    assert t.phys_base == 0x2A000000


VECTOR_F = """NUMBER(VA_BITS)=48
NUMBER(TCR_EL1_T1SZ)=0x10
NUMBER(PHYS_OFFSET)=0x40000000
NUMBER(kimage_voffset)=0xffff7fffc0000000
SYMBOL(_stext)=ffff800080010000
KERNELOFFSET=0
"""


def test_vector_f_arm64_linear_and_image() -> None:
    t = Translator(Phys(vector_a()), VmcoreInfo(VECTOR_F), EM_AARCH64, [])
    assert t.va_to_pa(0xFFFF000012345000) == 0x52345000
    assert t.va_to_pa(0xFFFF800081234560) == 0xC1234560
    # PAGE_END is not linear: it goes through kimage_voffset instead
    assert t.va_to_pa(0xFFFF800000000000) == 0xFFFF800000000000 - 0xFFFF7FFFC0000000


def test_vector_f_prstatus_arm64() -> None:
    st = parse_prstatus(0, prstatus_arm64(77, 0xFFFF800080123456, 0xFFFF80008000FF00), EM_AARCH64)
    assert st is not None
    assert (st.pid, st.pc, st.sp, st.user_mode) == (77, 0xFFFF800080123456, 0xFFFF80008000FF00, False)


def test_arm32_prstatus_and_user_mode() -> None:
    desc = bytearray(148)
    struct.pack_into("<i", desc, 24, 5)
    struct.pack_into("<III", desc, 124, 0xBEFFF000, 0x10000, 0x8000)
    struct.pack_into("<I", desc, 136, 0x10)  # cpsr USR mode
    st = parse_prstatus(3, bytes(desc), EM_ARM)
    assert st is not None
    assert (st.cpu, st.pid, st.pc, st.sp, st.user_mode) == (3, 5, 0x8000, 0xBEFFF000, True)


def test_short_prstatus_is_ignored() -> None:
    assert parse_prstatus(0, b"\0" * 100, 62) is None
