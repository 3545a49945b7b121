"""Kernel virtual → physical addresses without debug info (formats.md §1.4).

Methods, first that applies wins: (A) a PT_LOAD whose ``p_vaddr`` covers the address;
(B) the arch's kernel-image rule; (C/D) the linear map: on x86_64 a page-table walk from
``init_top_pgt`` (the direct map is KASLR-randomised and its base is not exported), then the
PT_LOAD delta; on arm64 and arm the linear formula. Dumps without ``p_vaddr`` (kdump-compressed,
QEMU) rely on B–D.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from crashd.vmcore.elf import Load
from crashd.vmcore.memory import MemoryError_, NotMapped, PhysMemory
from crashd.vmcore.prstatus import EM_AARCH64, EM_ARM, EM_X86_64
from crashd.vmcore.vmcoreinfo import VmcoreInfo

__all__ = ["START_KERNEL_MAP", "Translator", "U64", "X86_ADDR_MASK", "read_phys_partial"]

U64 = (1 << 64) - 1
START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000
X86_ADDR_MASK = 0x000F_FFFF_FFFF_F000


class Translator:
    """``va_to_pa`` and ``read_virt`` for one dump."""

    def __init__(
        self,
        mem: PhysMemory,
        info: VmcoreInfo,
        machine: int,
        loads: Sequence[Load] = (),
        phys_base_hint: int | None = None,
        endian: str = "<",
    ):
        self.mem = mem
        self.info = info
        self.machine = machine
        self.endian = endian
        self.vloads = [ld for ld in loads if ld.vaddr]
        self.word_bits = 32 if machine == EM_ARM or machine == 3 else 64
        self.mask = (1 << self.word_bits) - 1
        self.ram_start = min((ld.paddr for ld in loads), default=None)
        self.phys_base = self._phys_base(phys_base_hint)
        self.linear_delta = self._linear_delta()
        self._walk_cache: dict[int, int] = {}

    # ---------------------------------------------------------------- setup
    def _phys_base(self, hint: int | None) -> int | None:
        if self.machine == EM_X86_64:
            pb = self.info.number("phys_base")
            if pb is not None:
                return pb
            for ld in self.vloads:
                if ld.vaddr >= START_KERNEL_MAP:
                    return (ld.paddr - (ld.vaddr - START_KERNEL_MAP)) & U64
        if self.machine == EM_ARM and hint is None:
            # 32-bit ARM exports no PHYS_OFFSET; RAM normally starts there, and runtime
            # phys-to-virt patching needs it 16 MiB aligned (Dump's uts check catches a bad guess).
            return None if self.ram_start is None else self.ram_start & ~0xFFFFFF
        return hint

    def _linear_delta(self) -> int | None:
        if self.machine == EM_X86_64:
            # makedumpfile takes the last such header (4.19 kcore had extra remap headers)
            cands = [ld for ld in self.vloads if ld.vaddr < START_KERNEL_MAP]
            return (cands[-1].vaddr - cands[-1].paddr) & U64 if cands else None
        return None

    # ---------------------------------------------------------------- translation
    def va_to_pa(self, va: int) -> int:
        return self.span(va)[0]

    def span(self, va: int) -> tuple[int, int]:
        """``(pa, n)``: ``va`` translates to ``pa`` and the next ``n`` bytes stay physically contiguous."""
        va &= self.mask
        for ld in self.vloads:
            if ld.vaddr <= va < ld.vaddr + ld.memsz:
                return ld.paddr + (va - ld.vaddr), ld.vaddr + ld.memsz - va
        if self.machine == EM_X86_64:
            return self._x86_64(va)
        if self.machine == EM_AARCH64:
            return self._arm64(va), 4096 - (va & 0xFFF)
        if self.machine == EM_ARM:
            return self._arm(va), 4096 - (va & 0xFFF)
        raise NotMapped(va, f"no translation for machine {self.machine} without p_vaddr")

    def _x86_64(self, va: int) -> tuple[int, int]:
        image_size = self.info.number("KERNEL_IMAGE_SIZE") or (1 << 30)
        if START_KERNEL_MAP <= va < START_KERNEL_MAP + image_size and self.phys_base is not None:
            return (va - START_KERNEL_MAP + self.phys_base) & U64, START_KERNEL_MAP + image_size - va
        if self.info.symbol("init_top_pgt") is not None or self.info.symbol("init_level4_pgt") is not None:
            pa, page = self._walk(va)
            return pa, page - (va & (page - 1))
        if self.linear_delta is not None:
            return (va - self.linear_delta) & U64, 4096 - (va & 0xFFF)
        raise NotMapped(va, "no page tables and no linear-map mapping in the dump")

    def _root_pa(self) -> int:
        sym = self.info.symbol("init_top_pgt")
        if sym is None:
            sym = self.info.symbol("init_level4_pgt")
        if sym is None:
            raise NotMapped(0, "SYMBOL(init_top_pgt) missing")
        for ld in self.vloads:
            if ld.vaddr <= sym < ld.vaddr + ld.memsz:
                return ld.paddr + (sym - ld.vaddr)
        if self.phys_base is None:
            raise NotMapped(sym, "phys_base unknown")
        return (sym - START_KERNEL_MAP + self.phys_base) & U64

    def _walk(self, va: int) -> tuple[int, int]:
        """x86_64 4/5-level walk -> (pa, leaf page size); large-page results cached per 2 MiB."""
        key = va >> 21
        if key in self._walk_cache:
            return self._walk_cache[key] | (va & 0x1FFFFF), 1 << 21
        sme = self.info.number("sme_mask") or 0
        shifts = [39, 30, 21, 12]
        if self.info.number("pgtable_l5_enabled"):
            shifts.insert(0, 48)
        table = self._root_pa()
        for shift in shifts:
            raw = self.mem.read_phys(table + 8 * ((va >> shift) & 511), 8)
            entry = struct.unpack(self.endian + "Q", raw)[0] & ~sme
            if not entry & 1:
                raise NotMapped(va)
            if shift in (30, 21) and entry & 0x80:
                page_mask = (1 << shift) - 1
                pa = (entry & X86_ADDR_MASK & ~page_mask) | (va & page_mask)
                self._walk_cache[key] = pa & ~0x1FFFFF
                return pa, 1 << 21
            table = entry & X86_ADDR_MASK
        return table | (va & 0xFFF), 4096

    def _arm64(self, va: int) -> int:
        info = self.info
        va_bits = info.number("VA_BITS") or 48
        if not 36 <= va_bits <= 52:  # arm64 supports 36, 39, 42, 47, 48 and 52
            raise NotMapped(va, f"arm64 NUMBER(VA_BITS)={va_bits} is implausible")
        # PAGE_OFFSET follows VA_BITS, not TCR_EL1_T1SZ's vabits_actual; see formats.md §1.4 C
        tagged = va | (0xFF << 56)
        phys_offset = info.number("PHYS_OFFSET")
        stext = info.symbol("_stext") or 0
        flipped = stext > (1 << 64) - (1 << (min(va_bits, 48) - 1))
        if phys_offset is not None:
            if flipped:
                page_offset = (1 << 64) - (1 << va_bits)
                page_end = (1 << 64) - (1 << (min(va_bits, 48) - 1))
                if page_offset <= tagged < page_end:
                    return (tagged - page_offset + phys_offset) & U64
            else:
                page_offset = (1 << 64) - (1 << (va_bits - 1))
                if tagged & (1 << (va_bits - 1)):
                    return ((tagged & ~page_offset) + phys_offset) & U64
        kimage_voffset = info.number("kimage_voffset")
        if kimage_voffset is not None:
            return (va - kimage_voffset) & U64
        raise NotMapped(va, "arm64 without PHYS_OFFSET/kimage_voffset")

    def _arm(self, va: int) -> int:
        page_offset = 0xC0000000
        if va >= page_offset and self.phys_base is not None:
            return (va - page_offset + self.phys_base) & 0xFFFFFFFF
        raise NotMapped(va, "arm: not a lowmem address")

    # ---------------------------------------------------------------- reads
    def read_virt(self, va: int, size: int) -> bytes:
        """``size`` bytes at ``va``, one physical read per contiguous span."""
        if size <= 0:
            return b""
        pa, n = self.span(va)
        if n >= size:
            return self.mem.read_phys(pa, size)
        out = bytearray()
        while size > 0:
            pa, n = self.span(va)
            n = min(n, size)
            out += self.mem.read_phys(pa, n)
            va = (va + n) & self.mask
            size -= n
        return bytes(out)

    def read_virt_partial(self, va: int, size: int) -> tuple[bytes, list[tuple[int, int, str]]]:
        """Like :meth:`read_virt` but unreadable ranges become zeros, listed as (start, end, why)."""
        out = bytearray()
        missing: list[tuple[int, int, str]] = []
        pos = 0
        while pos < size:
            try:
                pa, n = self.span(va + pos)
            except MemoryError_ as exc:
                n = min(size - pos, 4096 - ((va + pos) & 0xFFF))
                out += bytes(n)
                _note_missing(missing, pos, pos + n, exc.kind)
                pos += n
                continue
            n = min(n, size - pos)
            data, miss = read_phys_partial(self.mem, pa, n)
            out += data
            for s, e, kind in miss:
                _note_missing(missing, pos + s, pos + e, kind)
            pos += n
        return bytes(out), missing

    def read_word(self, va: int) -> int:
        w = 8 if self.word_bits == 64 else 4
        value: int = struct.unpack(self.endian + ("Q" if w == 8 else "I"), self.read_virt(va, w))[0]
        return value

    def read_u32(self, va: int) -> int:
        value: int = struct.unpack(self.endian + "I", self.read_virt(va, 4))[0]
        return value


def _note_missing(missing: list[tuple[int, int, str]], start: int, end: int, kind: str) -> None:
    if missing and missing[-1][1] == start and missing[-1][2] == kind:
        missing[-1] = (missing[-1][0], end, kind)
    else:
        missing.append((start, end, kind))


def read_phys_partial(mem: PhysMemory, pa: int, size: int) -> tuple[bytes, list[tuple[int, int, str]]]:
    """Physical bytes with unreadable ranges zeroed and listed; uses the container's own
    single-pass version when it has one, else goes page by page."""
    own = getattr(mem, "read_phys_partial", None)
    if own is not None:
        return own(pa, size)  # type: ignore[no-any-return]
    out = bytearray()
    missing: list[tuple[int, int, str]] = []
    pos = 0
    while pos < size:
        n = min(size - pos, 4096 - ((pa + pos) & 0xFFF))
        try:
            out += mem.read_phys(pa + pos, n)
        except MemoryError_ as exc:
            out += bytes(n)
            _note_missing(missing, pos, pos + n, exc.kind)
        pos += n
    return bytes(out), missing
