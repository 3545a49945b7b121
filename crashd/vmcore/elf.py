"""ELF vmcores: ``/proc/vmcore``, raw copies and ``makedumpfile -E`` output (formats.md §1–2).

Parsed with ``struct`` rather than pyelftools: the capture kernel pays ~60 ms and several
MiB for importing pyelftools, and a vmcore needs only the header, program headers and notes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from crashd.errors import VmcoreError
from crashd.vmcore.memory import NotInDump, PageExcluded, Source

PT_LOAD = 1
PT_NOTE = 4
ET_CORE = 4
PN_XNUM = 0xFFFF
MAX_PHDRS = 1 << 16
MAX_NOTES_BYTES = 64 << 20


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


def parse_notes(data: bytes, endian: str = "<") -> list[Note]:
    """Every note in a PT_NOTE segment (4-byte padding; tolerant of empty terminators)."""
    notes: list[Note] = []
    pos = 0
    end = len(data)
    while pos + 12 <= end:
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


class ElfVmcore:
    """Header, loads and notes of an ELF core, with ``read_phys`` over its PT_LOADs."""

    format = "elf"

    def __init__(self, src: Source):
        self.src = src
        self.warnings: list[str] = []
        head = src.pread(0, 64)
        if len(head) < 52 or head[:4] != b"\x7fELF":
            raise VmcoreError(f"{src.path}: not an ELF file")
        cls, data = head[4], head[5]
        if cls not in (1, 2) or data not in (1, 2):
            raise VmcoreError(f"{src.path}: unsupported ELF class/encoding ({cls}, {data})")
        self.elf64 = cls == 2
        self.endian = "<" if data == 1 else ">"
        e = self.endian
        if self.elf64:
            if len(head) < 64:
                raise VmcoreError(f"{src.path}: truncated ELF header")
            (etype, self.e_machine, _v, _entry, phoff, shoff, self.e_flags, _eh, phentsize, phnum, _she, _shn,
             _shs) = struct.unpack_from(e + "HHIQQQIHHHHHH", head, 16)
        else:
            (etype, self.e_machine, _v, _entry, phoff, shoff, self.e_flags, _eh, phentsize, phnum, _she, _shn,
             _shs) = struct.unpack_from(e + "HHIIIIIHHHHHH", head, 16)
        if etype != ET_CORE:
            raise VmcoreError(f"{src.path}: ELF file but not a core dump (e_type {etype})")
        if phnum == PN_XNUM and shoff:
            sh = src.pread(shoff, 64 if self.elf64 else 40)
            if len(sh) >= 32:
                phnum = struct.unpack_from(e + "I", sh, 44 if self.elf64 else 28)[0]
        want = 56 if self.elf64 else 32
        if phentsize < want or phnum > MAX_PHDRS:
            raise VmcoreError(f"{src.path}: bad program header table ({phnum} x {phentsize} bytes)")
        table = src.pread(phoff, phentsize * phnum)
        if len(table) < phentsize * phnum:
            raise VmcoreError(f"{src.path}: truncated: program headers end past the end of the file")
        self.loads: list[Load] = []
        self.notes: list[Note] = []
        self.incomplete = bool(self.e_flags & 1)
        for i in range(phnum):
            o = i * phentsize
            if self.elf64:
                ptype, _fl, off, va, pa, fsz, msz, _al = struct.unpack_from(e + "IIQQQQQQ", table, o)
            else:
                ptype, off, va, pa, fsz, msz, _fl, _al = struct.unpack_from(e + "IIIIIIII", table, o)
            if ptype == PT_LOAD:
                self.loads.append(Load(off, va, pa, min(fsz, msz), msz))
            elif ptype == PT_NOTE:
                raw = src.pread(off, min(fsz, MAX_NOTES_BYTES))
                if len(raw) < fsz:
                    self.warnings.append("the note segment is cut short (truncated file)")
                self.notes.extend(parse_notes(raw, e))
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
