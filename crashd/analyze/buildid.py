"""The GNU build id (``NT_GNU_BUILD_ID``) of an ELF file: a vmlinux, a ``.debug`` file, a module.

Read with ``struct`` from the section headers (``SHT_NOTE``) and, failing those, the program
headers (``PT_NOTE``); every size read is bounded, so a hostile or truncated file gives ``None``
or :class:`~crashd.core.errors.CrashdError`, never a huge read.
"""

from __future__ import annotations

import os
import struct

from crashd.core.errors import CrashdError
from crashd.vmcore.elf import PT_NOTE, parse_notes

__all__ = ["NT_GNU_BUILD_ID", "SHT_NOTE", "read_build_id"]

NT_GNU_BUILD_ID = 3
SHT_NOTE = 7
_MAX_HEADERS = 1 << 16
_MAX_NOTE = 1 << 16  # a build-id note section is 36 bytes; the kernel's .notes a few hundred


def _notes_build_id(data: bytes, endian: str) -> str | None:
    for note in parse_notes(data, endian, max_count=256):
        if note.name == b"GNU" and note.type == NT_GNU_BUILD_ID and 2 <= len(note.desc) <= 64:
            return note.desc.hex()
    return None


def read_build_id(path: str | os.PathLike[str]) -> str | None:
    """Lower-case hex build id of the ELF file at ``path``; None when it has none.

    Raises :class:`CrashdError` when the file is not ELF or cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise CrashdError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        size = os.fstat(fd).st_size

        def pread(off: int, n: int) -> bytes:
            if off < 0 or n < 0 or off >= size:
                return b""
            return os.pread(fd, min(n, size - off), off)

        head = pread(0, 64)
        if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
            raise CrashdError(f"{path}: not an ELF file")
        elf64 = head[4] == 2
        e = "<" if head[5] == 1 else ">"
        if elf64:
            if len(head) < 64:
                raise CrashdError(f"{path}: truncated ELF header")
            phoff, shoff = struct.unpack_from(e + "QQ", head, 32)
            phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", head, 54)
        else:
            phoff, shoff = struct.unpack_from(e + "II", head, 28)
            phentsize, phnum, shentsize, shnum = struct.unpack_from(e + "HHHH", head, 42)
        if shoff and shnum and shentsize >= (64 if elf64 else 40) and shnum <= _MAX_HEADERS:
            table = pread(shoff, shentsize * shnum)
            for i in range(len(table) // shentsize):
                o = i * shentsize
                if elf64:
                    stype, = struct.unpack_from(e + "I", table, o + 4)
                    off, sz = struct.unpack_from(e + "QQ", table, o + 24)
                else:
                    stype, = struct.unpack_from(e + "I", table, o + 4)
                    off, sz = struct.unpack_from(e + "II", table, o + 16)
                if stype == SHT_NOTE and 0 < sz <= _MAX_NOTE:
                    found = _notes_build_id(pread(off, sz), e)
                    if found:
                        return found
        if phoff and phnum and phentsize >= (56 if elf64 else 32) and phnum <= _MAX_HEADERS:
            table = pread(phoff, phentsize * phnum)
            for i in range(len(table) // phentsize):
                o = i * phentsize
                if elf64:
                    ptype, _fl, off, _va, _pa, fsz = struct.unpack_from(e + "IIQQQQ", table, o)
                else:
                    ptype, off, _va, _pa, fsz = struct.unpack_from(e + "IIIII", table, o)
                if ptype == PT_NOTE and 0 < fsz <= _MAX_NOTE:
                    found = _notes_build_id(pread(off, fsz), e)
                    if found:
                        return found
        return None
    finally:
        os.close(fd)
