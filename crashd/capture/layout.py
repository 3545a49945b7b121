"""Where the bytes are in an ELF vmcore: program headers, notes, kernel release.

The copy collector and the space estimate only need the ELF program headers, so
they are parsed here with :mod:`struct` (cheap: a few hundred bytes read) instead of
loading the full vmcore reader into the small capture kernel. Both ELF classes and
byte orders are accepted: a 32-bit ARM board's /proc/vmcore is ELF32.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from crashd.errors import VmcoreError

PT_LOAD = 1
PT_NOTE = 4
ET_CORE = 4
PN_XNUM = 0xFFFF
# Notes larger than this are not believed (a real vmcore's notes are a few KiB per CPU).
MAX_NOTES = 16 << 20
MAX_PHNUM = 1 << 20


@dataclass(frozen=True)
class Segment:
    """One program header: ``filesz`` bytes at ``offset`` in the file."""

    type: int
    offset: int
    filesz: int
    memsz: int
    paddr: int


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


def _read_exact(fd: int, size: int, offset: int) -> bytes:
    data = os.pread(fd, size, offset)
    if len(data) != size:
        raise VmcoreError(f"vmcore truncated: wanted {size} bytes at offset {offset}, got {len(data)}")
    return data


def read_layout(fd: int) -> Layout:
    """Parse the ELF header, program headers and notes of an open vmcore."""
    ident = _read_exact(fd, 16, 0)
    if ident[:4] != b"\x7fELF":
        raise VmcoreError("not an ELF file (is this really /proc/vmcore?)")
    elf_class, data_enc = ident[4], ident[5]
    if elf_class not in (1, 2) or data_enc not in (1, 2):
        raise VmcoreError(f"unknown ELF class {elf_class} / data encoding {data_enc}")
    bo = "<" if data_enc == 1 else ">"
    is64 = elf_class == 2
    if is64:
        ehdr = _read_exact(fd, 64, 0)
        e_type, = struct.unpack_from(bo + "H", ehdr, 16)
        e_phoff, e_shoff = struct.unpack_from(bo + "QQ", ehdr, 32)
        e_ehsize, e_phentsize, e_phnum, e_shentsize = struct.unpack_from(bo + "HHHH", ehdr, 52)
    else:
        ehdr = _read_exact(fd, 52, 0)
        e_type, = struct.unpack_from(bo + "H", ehdr, 16)
        e_phoff, e_shoff = struct.unpack_from(bo + "II", ehdr, 28)
        e_ehsize, e_phentsize, e_phnum, e_shentsize = struct.unpack_from(bo + "HHHH", ehdr, 40)
    if e_type != ET_CORE:
        raise VmcoreError(f"ELF type {e_type} is not a core file")
    if e_phnum == PN_XNUM and e_shoff:
        # More than 0xfffe headers: the real count is in section header 0's sh_info.
        sh = _read_exact(fd, e_shentsize, e_shoff)
        e_phnum = struct.unpack_from(bo + "I", sh, 44 if is64 else 28)[0]
    if e_phnum > MAX_PHNUM or e_phentsize < (56 if is64 else 32):
        raise VmcoreError(f"implausible program header table ({e_phnum} x {e_phentsize} bytes)")
    table = _read_exact(fd, e_phnum * e_phentsize, e_phoff)
    segments = []
    for i in range(e_phnum):
        at = i * e_phentsize
        if is64:
            p_type, _flags, p_offset, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(
                bo + "IIQQQQQ", table, at
            )
        else:
            p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz = struct.unpack_from(bo + "IIIIII", table, at)
        segments.append(Segment(p_type, p_offset, p_filesz, p_memsz, p_paddr))
    header_size = max(e_ehsize, e_phoff + e_phnum * e_phentsize)
    osrelease, page_size = _vmcoreinfo(fd, bo, segments)
    return Layout(header_size, tuple(segments), osrelease, page_size)


def _vmcoreinfo(fd: int, bo: str, segments: list[Segment]) -> tuple[str | None, int | None]:
    """OSRELEASE and PAGESIZE from the VMCOREINFO note, when there is one."""
    for seg in segments:
        if seg.type != PT_NOTE or not 0 < seg.filesz <= MAX_NOTES:
            continue
        data = os.pread(fd, seg.filesz, seg.offset)
        for name, desc in _notes(data, bo):
            if name == b"VMCOREINFO":
                return _parse_vmcoreinfo(desc)
    return None, None


def _notes(data: bytes, bo: str) -> list[tuple[bytes, bytes]]:
    out = []
    at = 0
    while at + 12 <= len(data):
        namesz, descsz, _ntype = struct.unpack_from(bo + "III", data, at)
        at += 12
        name = data[at : at + namesz].rstrip(b"\0")
        at += (namesz + 3) & ~3
        desc = data[at : at + descsz]
        at += (descsz + 3) & ~3
        if namesz == 0 and descsz == 0:
            break  # the kernel pads the note segment with zeros
        out.append((name, desc))
    return out


def _parse_vmcoreinfo(desc: bytes) -> tuple[str | None, int | None]:
    release: str | None = None
    page: int | None = None
    for line in desc.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition("=")
        if key == "OSRELEASE" and value:
            release = value.strip()
        elif key == "PAGESIZE" and value.strip().isdigit():
            page = int(value.strip())
    return release, page
