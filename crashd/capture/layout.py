"""Where the bytes are in an ELF vmcore: program headers, notes, kernel release.

The copy collector and the space estimate only need the ELF program headers and the
VMCOREINFO note: a few hundred bytes read through the reader's own header parser
(:func:`crashd.vmcore.elf.read_elf_header`), with no page-reading machinery. Both ELF
classes and byte orders are accepted: a 32-bit ARM board's /proc/vmcore is ELF32.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from crashd.vmcore.elf import PT_LOAD, PT_NOTE, Phdr, parse_notes, read_elf_header
from crashd.vmcore.vmcoreinfo import VmcoreInfo

__all__ = ["PT_LOAD", "PT_NOTE", "Layout", "Segment", "read_layout"]

# Notes larger than this are not believed (a real vmcore's notes are a few KiB per CPU).
MAX_NOTES = 16 << 20

# One program header: ``filesz`` bytes at ``offset`` in the file.
Segment = Phdr


@dataclass(frozen=True)
class Layout:
    """The parts of the vmcore that carry data, and what the notes say."""

    header_size: int  # ELF header + program header table
    segments: tuple[Segment, ...]
    osrelease: str | None
    page_size: int | None

    @property
    def file_size(self) -> int:
        """Bytes a faithful copy occupies (the end of the last segment)."""
        return max([self.header_size] + [s.offset + s.filesz for s in self.segments])

    @property
    def load_bytes(self) -> int:
        return sum(s.filesz for s in self.segments if s.type == PT_LOAD)

    def regions(self) -> list[tuple[int, int]]:
        """Sorted, merged ``(start, end)`` byte ranges that hold data.

        Everything else in the file is padding the kernel fills with zeros, so a
        copy may leave it as a hole.
        """
        spans = [(0, self.header_size)] + [
            (s.offset, s.offset + s.filesz) for s in self.segments if s.filesz > 0
        ]
        spans.sort()
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


def read_layout(fd: int) -> Layout:
    """Parse the ELF header, program headers and VMCOREINFO note of an open vmcore."""

    def pread(offset: int, size: int) -> bytes:
        return os.pread(fd, size, offset)

    hdr = read_elf_header(pread, "vmcore")
    osrelease = page_size = None
    for seg in hdr.phdrs:
        if seg.type != PT_NOTE or not 0 < seg.filesz <= MAX_NOTES:
            continue
        info = next((n for n in parse_notes(pread(seg.offset, seg.filesz), hdr.endian) if n.name == b"VMCOREINFO"), None)
        if info is not None:
            vmcoreinfo = VmcoreInfo(info.desc)
            osrelease, page_size = vmcoreinfo.osrelease or None, vmcoreinfo.page_size
            break
    return Layout(hdr.header_size, hdr.phdrs, osrelease, page_size)
