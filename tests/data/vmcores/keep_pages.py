"""Zero every page of an ELF vmcore that reading its log, notes and symbols never touches.

Why: the real kdump-compressed reference dumps are 16-22 MB each even at dump level 31.
Feeding this trimmed ELF to the real makedumpfile (``-d 31`` drops zero pages) gives
real kdump/flat containers of the same crash that hold only the pages a reader needs.
Kept: the pages crashd's reader touches on the full ELF for ``dmesg``, ``inspect`` and the
symbols the tests look up (with and without PT_LOAD virtual addresses, so the page-table walk
the kdump formats need is included); every struct page and the page tables mapping them
(makedumpfile -d 31 reads them to filter); and what ``makedumpfile --dump-dmesg`` read while
setting itself up (from its strace log).
The output is checked afterwards against kexec-tools' ``vmcore-dmesg`` (tests/data/README.md).

Usage (tests/data/vmcores/make.sh runs it): python -m tests.data.vmcores.keep_pages STRACE.log FULL.elf OUT.elf
"""

from __future__ import annotations

import re
import shutil
import struct
import sys
from pathlib import Path
from typing import Any

from crashd.cli.vmcore_cmd import inspect_report
from crashd.vmcore import open_dump
from crashd.vmcore.elf import ElfVmcore
from crashd.vmcore.kdump import KdumpVmcore
from crashd.vmcore.translate import Translator

PAGE = 4096
# The addresses tests/unit/vmcore/test_reference.py symbolises (besides each CPU's pc).
SYMBOLS = (0xFFFFFFFFB3690926, 0xFFFFFFFFB3A01DED, 0x47B7A0)
touched: set[int] = set()


def _record(pa: int, size: int) -> None:
    touched.update(range(pa // PAGE, (pa + max(size, 1) - 1) // PAGE + 1))


def _instrument() -> None:
    elf_read, elf_partial, kdump_page = ElfVmcore.read_phys, ElfVmcore.read_phys_partial, KdumpVmcore.read_page

    def read_phys(self: ElfVmcore, pa: int, size: int) -> bytes:
        _record(pa, size)
        return elf_read(self, pa, size)

    def read_phys_partial(self: ElfVmcore, pa: int, size: int) -> Any:
        _record(pa, size)
        return elf_partial(self, pa, size)

    def read_page(self: KdumpVmcore, pfn: int) -> bytes:
        touched.add(pfn)
        return kdump_page(self, pfn)

    ElfVmcore.read_phys = read_phys  # type: ignore[method-assign]
    ElfVmcore.read_phys_partial = read_phys_partial  # type: ignore[method-assign]
    KdumpVmcore.read_page = read_page  # type: ignore[method-assign]


def _exercise(path: str, *, no_vaddr: bool = False) -> None:
    with open_dump(path) as d:
        if no_vaddr:
            d.translator = Translator(d.container, d.vmcoreinfo, d.e_machine, [], None)
        for style in ("vmcore-dmesg", "dmesg"):
            d.dmesg_text(style)
        d.uts_check()
        for addr in (*(c.pc for c in d.cpus), *SYMBOLS):
            d.symbolize(addr)
    inspect_report(path)


def _loads(src: Path) -> list[tuple[int, int, int]]:
    """(offset, paddr, filesz) of each PT_LOAD (ELF64 little-endian, as makedumpfile -E writes)."""
    with open(src, "rb") as f:
        e = f.read(64)
        phoff, phentsize, phnum = struct.unpack_from("<Q", e, 32)[0], *struct.unpack_from("<HH", e, 54)
        f.seek(phoff)
        phdrs = [struct.unpack("<IIQQQQQQ", f.read(phentsize)) for _ in range(phnum)]
    return [(ph[2], ph[4], ph[5]) for ph in phdrs if ph[0] == 1]


def strace_reads(log: Path, name: str) -> list[tuple[int, int]]:
    """(offset, size) of every read of file ``name`` in an ``strace -e openat,lseek,read,pread64`` log."""
    fds: dict[int, list[Any]] = {}
    reads: list[tuple[int, int]] = []
    for line in log.read_text().splitlines():
        if m := re.search(r'openat\(AT_FDCWD, "([^"]+)".*= (\d+)$', line):
            fds[int(m[2])] = [m[1], 0]
        elif (m := re.search(r"lseek\((\d+), \d+, SEEK_SET\)\s+= (\d+)", line)) and int(m[1]) in fds:
            fds[int(m[1])][1] = int(m[2])
        elif (m := re.search(r" read\((\d+), .*= (\d+)$", line)) and int(m[1]) in fds:
            fd = fds[int(m[1])]
            if fd[0].endswith(name):
                reads.append((fd[1], int(m[2])))
            fd[1] += int(m[2])
        elif (m := re.search(r"pread64\((\d+), .*, \d+, (\d+)\) = (\d+)", line)) and int(m[1]) in fds:
            if fds[int(m[1])][0].endswith(name):
                reads.append((int(m[2]), int(m[3])))
    return reads


def keep_file_reads(src: Path, reads: list[tuple[int, int]]) -> None:
    """Also keep the pages behind file ranges makedumpfile read while it set itself up
    (``--dump-dmesg``: symbols, page tables, mem_section), so it can filter the trimmed file."""
    loads = _loads(src)
    for off, size in reads:
        for offset, paddr, filesz in loads:
            lo, hi = max(off, offset), min(off + size, offset + filesz)
            if lo < hi:
                _record(paddr + lo - offset, hi - lo)


def _exercise_mem_map(path: str) -> None:
    """Read every struct page (and the page tables mapping them), as makedumpfile -d 31 does
    to decide which pages to drop: SPARSEMEM_EXTREME roots -> mem_section -> vmemmap."""
    with open_dump(path) as d:
        t = Translator(d.container, d.vmcoreinfo, d.e_machine, [], None)
        info = d.vmcoreinfo
        roots, sec_size, page_size = info.symbol("mem_section"), info.size("mem_section"), info.size("page")
        bits = info.number("SECTION_SIZE_BITS")
        assert roots and sec_size and page_size and bits
        per_root = PAGE // sec_size
        top = max(ld.paddr + ld.memsz for ld in d.container.loads)
        for nr in range((top + (1 << bits) - 1) >> bits):
            root = t.read_word(roots + 8 * (nr // per_root))
            coded = t.read_word(root + sec_size * (nr % per_root)) & ~0xFF
            first = nr << (bits - 12)
            t.read_virt_partial(coded + first * page_size, (1 << (bits - 12)) * page_size)


def trim(src: Path, dst: Path) -> int:
    """Copy ``src`` to ``dst`` with untouched PT_LOAD pages zeroed; returns pages kept."""
    shutil.copyfile(src, dst)
    kept = 0
    with open(dst, "r+b") as out:
        for offset, paddr, filesz in _loads(src):
            for pos in range(0, filesz, PAGE):
                n = min(PAGE, filesz - pos)
                if (paddr + pos) // PAGE in touched:
                    kept += 1
                    continue
                out.seek(offset + pos)
                out.write(bytes(n))
    return kept


def main(argv: list[str]) -> int:
    log, elf, out = argv
    keep_file_reads(Path(elf), strace_reads(Path(log), Path(elf).name))
    _instrument()
    _exercise(elf)
    _exercise(elf, no_vaddr=True)  # the 5-level page-table walk, as for the kdump formats
    _exercise_mem_map(elf)
    kept = trim(Path(elf), Path(out))
    print(f"{len(touched)} pages touched, {kept} PT_LOAD pages kept", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
