"""Minimal ELF core files for the capture tests: a PT_NOTE with VMCOREINFO and PT_LOADs.

The capture code only needs the program headers to be right, so this stays tiny
and independent of crashd (it is the second implementation the copy is checked
against). Segments can be large and mostly zero: they are written page by page,
zero pages skipped, so a 64 MiB core costs little disk and memory.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGE = 4096
PageFn = Callable[[int], bytes | None]  # page index -> 4096 bytes, or None for a zero page


@dataclass(frozen=True)
class Load:
    """A PT_LOAD of ``size`` bytes; ``data`` (bytes) or ``pages`` (a function) fills it."""

    size: int
    data: bytes | None = None
    pages: PageFn | None = None
    memsz_extra: int = 0  # filtered tail (p_memsz > p_filesz), as makedumpfile -E writes

    def page(self, i: int) -> bytes | None:
        if self.data is not None:
            return self.data[i * PAGE : (i + 1) * PAGE]
        if self.pages is not None:
            return self.pages(i)
        return None


def note(name: bytes, ntype: int, desc: bytes, bo: str = "<") -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (-len(b) % 4)

    return struct.pack(bo + "III", len(name) + 1, len(desc), ntype) + pad(name + b"\0") + pad(desc)


def vmcoreinfo(release: str = "6.1.0-test", page_size: int = PAGE) -> bytes:
    return f"OSRELEASE={release}\nPAGESIZE={page_size}\nCRASHTIME=1700000000\n".encode()


def write_core(
    path: Path,
    loads: Sequence[Load],
    *,
    release: str = "6.1.0-test",
    align: bool = True,
    elf32: bool = False,
    big_endian: bool = False,
) -> Path:
    """Write the core; ``align`` page-aligns PT_LOAD data like /proc/vmcore does,
    ``align=False`` packs it right after the notes like ``makedumpfile -E``."""
    bo = ">" if big_endian else "<"
    notes = note(b"CORE", 1, b"\x11" * 336, bo) + note(b"VMCOREINFO", 0, vmcoreinfo(release), bo)
    ehsize, phentsize = (52, 32) if elf32 else (64, 56)
    phnum = 1 + len(loads)
    notes_off = ehsize + phnum * phentsize
    offset = notes_off + len(notes)
    offsets = []
    for ld in loads:
        if align:
            offset = (offset + PAGE - 1) // PAGE * PAGE
        offsets.append(offset)
        offset += ld.size
    total = offset
    ident = b"\x7fELF" + bytes([1 if elf32 else 2, 2 if big_endian else 1, 1]) + b"\0" * 9
    if elf32:
        ehdr = ident + struct.pack(bo + "HHIIIIIHHHHHH", 4, 3, 1, 0, ehsize, 0, 0, ehsize, phentsize, phnum, 40, 0, 0)
        phdrs = struct.pack(bo + "IIIIIIII", 4, notes_off, 0, 0, len(notes), len(notes), 0, 0)
        for i, ld in enumerate(loads):
            phdrs += struct.pack(bo + "IIIIIIII", 1, offsets[i], 0xC0000000 + i * 0x1000000, i * 0x1000000,
                                 ld.size, ld.size + ld.memsz_extra, 7, 0)
    else:
        ehdr = ident + struct.pack(bo + "HHIQQQIHHHHHH", 4, 62, 1, 0, ehsize, 0, 0, ehsize, phentsize, phnum, 64, 0, 0)
        phdrs = struct.pack(bo + "IIQQQQQQ", 4, 0, notes_off, 0, 0, len(notes), len(notes), 0)
        for i, ld in enumerate(loads):
            phdrs += struct.pack(bo + "IIQQQQQQ", 1, 7, offsets[i], 0xFFFF888000000000 + i * (1 << 30),
                                 i * (1 << 30), ld.size, ld.size + ld.memsz_extra, 0)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(fd, ehdr + phdrs + notes, 0)
        for ld, off in zip(loads, offsets, strict=True):
            for i in range((ld.size + PAGE - 1) // PAGE):
                page = ld.page(i)
                if page and page.count(0) != len(page):
                    os.pwrite(fd, page[: ld.size - i * PAGE], off + i * PAGE)
        os.ftruncate(fd, total)
    finally:
        os.close(fd)
    return path


def pattern(seed: int, density: int = 3) -> PageFn:
    """Deterministic pages: every ``density``-th page zero, the others distinct."""

    def fn(i: int) -> bytes | None:
        if i % density == 0:
            return None
        head = struct.pack("<QQ", seed, i)
        return (head * (PAGE // len(head)))[:PAGE]

    return fn


def dense_copy_blocks(path: Path) -> int:
    """st_blocks a plain (non-sparse) copy of ``path`` would take, roughly."""
    return (path.stat().st_size + 511) // 512
