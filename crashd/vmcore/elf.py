"""ELF vmcores: ``/proc/vmcore``, raw copies and ``makedumpfile -E`` output (formats.md §1–2).

Parsed with ``struct`` rather than pyelftools: the capture kernel pays ~60 ms and several
MiB for importing pyelftools, and a vmcore needs only the header, program headers and notes.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable
from dataclasses import dataclass

from crashd.core.errors import VmcoreError
from crashd.vmcore.memory import NotInDump, PageExcluded, Source

__all__ = [
    "ET_CORE",
    "ElfHeader",
    "ElfVmcore",
    "Load",
    "MAX_NOTES_BYTES",
    "MAX_NOTE_COUNT",
    "MAX_PHDRS",
    "Note",
    "PN_XNUM",
    "PT_LOAD",
    "PT_NOTE",
    "Phdr",
    "parse_notes",
    "read_elf_header",
]

PT_LOAD = 1
PT_NOTE = 4
ET_CORE = 4
PN_XNUM = 0xFFFF
MAX_PHDRS = 1 << 16
# Note bytes read from all PT_NOTEs together. /proc/vmcore merges every CPU's notes into one
# segment: 8192 CPUs' PRSTATUS and the VMCOREINFO fit in a few MiB (device dumps, vmcoredd,
# come after them and may be cut).
MAX_NOTES_BYTES = 16 << 20
MAX_NOTE_COUNT = 1 << 16


@dataclass(frozen=True)
class Load:
    """One PT_LOAD: physical range ``[paddr, paddr+memsz)``, file-backed for ``filesz`` bytes."""

    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int


@dataclass(frozen=True)
class Note:
    name: bytes
    type: int
    desc: bytes


def parse_notes(data: bytes, endian: str = "<", max_count: int = MAX_NOTE_COUNT) -> list[Note]:
    """Every note in a PT_NOTE segment (4-byte padding; tolerant of empty terminators), at
    most ``max_count`` of them: a segment of empty 12-byte notes must not become millions."""
    notes: list[Note] = []
    pos = 0
    end = len(data)
    while pos + 12 <= end and len(notes) < max_count:
        namesz, descsz, ntype = struct.unpack_from(endian + "III", data, pos)
        name_off = pos + 12
        desc_off = name_off + ((namesz + 3) & ~3)
        nxt = desc_off + ((descsz + 3) & ~3)
        if desc_off + descsz > end:
            break
        if namesz:
            name = data[name_off : name_off + namesz].rstrip(b"\0")
            notes.append(Note(name, ntype, data[desc_off : desc_off + descsz]))
        pos = nxt
    return notes


@dataclass(frozen=True)
class Phdr(Load):
    """One program header, as the file has it (``filesz`` not clamped to ``memsz``)."""

    type: int = PT_LOAD


@dataclass(frozen=True)
class ElfHeader:
    """The ELF header and program header table of a core file."""

    elf64: bool
    endian: str  # struct prefix: "<" or ">"
    machine: int
    flags: int
    header_size: int  # ELF header + program header table: the bytes before any segment
    phdrs: tuple[Phdr, ...]


def read_elf_header(pread: Callable[[int, int], bytes], name: str) -> ElfHeader:
    """Parse the ELF header and program headers of a core through ``pread(offset, size)``.

    Shared by the reader and by the capture's copy/space estimate, which has only an fd.
    Both classes and byte orders are accepted: a 32-bit ARM board's /proc/vmcore is ELF32.
    """
    head = pread(0, 64)
    if len(head) < 52 or head[:4] != b"\x7fELF":
        raise VmcoreError(f"{name}: not an ELF file")
    cls, data = head[4], head[5]
    if cls not in (1, 2) or data not in (1, 2):
        raise VmcoreError(f"{name}: unsupported ELF class/encoding ({cls}, {data})")
    elf64 = cls == 2
    e = "<" if data == 1 else ">"
    if elf64:
        if len(head) < 64:
            raise VmcoreError(f"{name}: truncated ELF header")
        (etype, machine, _v, _entry, phoff, shoff, flags, ehsize, phentsize, phnum, shentsize, _shn,
         _shs) = struct.unpack_from(e + "HHIQQQIHHHHHH", head, 16)
    else:
        (etype, machine, _v, _entry, phoff, shoff, flags, ehsize, phentsize, phnum, shentsize, _shn,
         _shs) = struct.unpack_from(e + "HHIIIIIHHHHHH", head, 16)
    if etype != ET_CORE:
        raise VmcoreError(f"{name}: ELF file but not a core dump (e_type {etype})")
    if phnum == PN_XNUM and shoff:
        # More than 0xfffe headers: the real count is in section header 0's sh_info.
        sh = pread(shoff, 64 if elf64 else 40)
        if len(sh) >= (48 if elf64 else 32):
            phnum = struct.unpack_from(e + "I", sh, 44 if elf64 else 28)[0]
    want = 56 if elf64 else 32
    if phentsize < want or phnum > MAX_PHDRS:
        raise VmcoreError(f"{name}: bad program header table ({phnum} x {phentsize} bytes)")
    table = pread(phoff, phentsize * phnum)
    if len(table) < phentsize * phnum:
        raise VmcoreError(f"{name}: truncated: program headers end past the end of the file")
    phdrs = []
    for i in range(phnum):
        o = i * phentsize
        if elf64:
            ptype, _fl, off, va, pa, fsz, msz, _al = struct.unpack_from(e + "IIQQQQQQ", table, o)
        else:
            ptype, off, va, pa, fsz, msz, _fl, _al = struct.unpack_from(e + "IIIIIIII", table, o)
        phdrs.append(Phdr(off, va, pa, fsz, msz, type=ptype))
    header_size = max(ehsize, phoff + phnum * phentsize)
    return ElfHeader(elf64, e, machine, flags, header_size, tuple(phdrs))


class ElfVmcore:
    """Header, loads and notes of an ELF core, with ``read_phys`` over its PT_LOADs."""

    format = "elf"

    def __init__(self, src: Source):
        self.src = src
        self.warnings: list[str] = []
        hdr = read_elf_header(src.pread, src.path)
        self.elf64 = hdr.elf64
        self.endian = hdr.endian
        self.e_machine = hdr.machine
        self.e_flags = hdr.flags
        self.loads: list[Load] = []
        self.notes: list[Note] = []
        self.incomplete = bool(self.e_flags & 1)
        for ph in hdr.phdrs:
            if ph.type == PT_LOAD:
                self.loads.append(Load(ph.offset, ph.vaddr, ph.paddr, min(ph.filesz, ph.memsz), ph.memsz))
        self._read_notes([ph for ph in hdr.phdrs if ph.type == PT_NOTE])
        self.loads.sort(key=lambda ld: ld.paddr)
        self.truncated = False
        self.expected_size = max([ld.offset + ld.filesz for ld in self.loads if ld.filesz] or [0])
        if self.expected_size > src.size:
            self.truncated = True
            self.warnings.append(
                f"the file is truncated: {src.size} of {self.expected_size} bytes present"
                f" ({100 * src.size // max(self.expected_size, 1)}%)"
            )
        self.filtered = any(ld.filesz < ld.memsz for ld in self.loads)  # makedumpfile -E dropped tails
        if self.incomplete:
            self.warnings.append("makedumpfile marked this dump incomplete (it ran out of space)")

    def _read_notes(self, phdrs: list[Phdr]) -> None:
        """The notes of every PT_NOTE, each file range read once, MAX_NOTES_BYTES in all.

        A hostile header table can point many PT_NOTEs at one big range (16 x 64 MiB ran
        out of memory): overlapping ones are skipped, and the total is bounded."""
        budget = MAX_NOTES_BYTES
        starts: list[int] = []  # the file ranges read so far: disjoint, sorted
        ends: list[int] = []
        for ph in phdrs:
            start, end = ph.offset, ph.offset + ph.filesz
            if ph.filesz <= 0:
                continue
            i = bisect.bisect_right(starts, start)
            if (i and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
                _once(self.warnings, "note segments overlap in the file: each byte is read once")
                continue
            want = min(ph.filesz, budget)
            if want < ph.filesz:
                _once(self.warnings, f"note segments exceed {MAX_NOTES_BYTES >> 20} MiB in all: the rest is ignored")
            if want <= 0 or len(self.notes) >= MAX_NOTE_COUNT:
                break
            raw = self.src.pread(start, want)
            budget -= want
            starts.insert(i, start)
            ends.insert(i, end)
            if len(raw) < want:
                _once(self.warnings, "the note segment is cut short (truncated file)")
            self.notes.extend(parse_notes(raw, self.endian, MAX_NOTE_COUNT - len(self.notes)))
        if len(self.notes) >= MAX_NOTE_COUNT:
            self.warnings.append(f"more than {MAX_NOTE_COUNT} notes: the rest is ignored")

    def read_phys(self, pa: int, size: int) -> bytes:
        """``size`` bytes at ``pa``, split across PT_LOADs; excluded/missing ranges raise."""
        out = bytearray()
        while size > 0:
            best: Load | None = None
            excluded = False
            for ld in self.loads:
                if ld.paddr <= pa < ld.paddr + ld.memsz:
                    if pa < ld.paddr + ld.filesz:
                        if best is None or ld.paddr + ld.filesz > best.paddr + best.filesz:
                            best = ld
                    else:
                        excluded = True
            if best is None:
                if excluded:
                    raise PageExcluded(pa)
                raise NotInDump(pa)
            n = min(size, best.paddr + best.filesz - pa)
            off = best.offset + (pa - best.paddr)
            chunk = self.src.pread(off, n)
            if len(chunk) < n:
                raise NotInDump(pa + len(chunk), "file truncated")
            out += chunk
            pa += n
            size -= n
        return bytes(out)

    def read_phys_partial(self, pa: int, size: int) -> tuple[bytes, list[tuple[int, int, str]]]:
        """One pass over the PT_LOADs: present bytes, and (start, end, why) for the rest."""
        out = bytearray()
        missing: list[tuple[int, int, str]] = []
        pos = 0
        while pos < size:
            cur = pa + pos
            best: Load | None = None
            excluded = False
            boundary = pa + size
            for ld in self.loads:
                for edge in (ld.paddr, ld.paddr + ld.filesz, ld.paddr + ld.memsz):
                    if cur < edge < boundary:
                        boundary = edge
                if ld.paddr <= cur < ld.paddr + ld.memsz:
                    if cur < ld.paddr + ld.filesz:
                        if best is None or ld.paddr + ld.filesz > best.paddr + best.filesz:
                            best = ld
                    else:
                        excluded = True
            if best is not None:
                n = min(pa + size, best.paddr + best.filesz) - cur
                chunk = self.src.pread(best.offset + (cur - best.paddr), n)
                out += chunk
                if len(chunk) < n:
                    out += bytes(n - len(chunk))
                    missing.append((pos + len(chunk), pos + n, NotInDump.kind))
            else:
                n = boundary - cur
                out += bytes(n)
                kind = PageExcluded.kind if excluded else NotInDump.kind
                if missing and missing[-1][1] == pos and missing[-1][2] == kind:
                    missing[-1] = (missing[-1][0], pos + n, kind)
                else:
                    missing.append((pos, pos + n, kind))
            pos += n
        return bytes(out), missing


def _once(warnings: list[str], text: str) -> None:
    if text not in warnings:
        warnings.append(text)
