"""Small ELF files carrying a GNU build-id note, built in code (a debug vmlinux's shape, tiny)."""

from __future__ import annotations

import struct
from pathlib import Path

__all__ = ["elf_with_build_id", "note", "write_vmlinux"]


def note(name: bytes, ntype: int, desc: bytes, e: str = "<") -> bytes:
    name += b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % 4)  # noqa: E731
    return struct.pack(e + "III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def elf_with_build_id(build_id: bytes | None, *, where: str = "section", elf32: bool = False, big: bool = False) -> bytes:
    """An ET_EXEC ELF whose build id is in a SHT_NOTE section (``where="section"``) or only in a
    PT_NOTE segment (``"segment"``); ``build_id=None``: a note of another type only."""
    e = ">" if big else "<"
    notes = note(b"GNU", 1, b"\0" * 16, e)  # NT_GNU_ABI_TAG first, as linkers write it
    if build_id is not None:
        notes += note(b"GNU", 3, build_id, e)
    ehsize, phentsize, shentsize = (52, 32, 40) if elf32 else (64, 56, 64)
    notes_off = ehsize
    phoff = notes_off + len(notes)
    shoff = phoff + phentsize
    cls = 1 if elf32 else 2
    ident = b"\x7fELF" + bytes([cls, 2 if big else 1, 1]) + b"\0" * 9
    with_sections = where == "section"
    shnum = 2 if with_sections else 0
    if elf32:
        head = ident + struct.pack(e + "HHIIIIIHHHHHH", 2, 3, 1, 0, phoff, shoff if shnum else 0, 0, ehsize, phentsize, 1,
                                   shentsize, shnum, 0)
        ph = struct.pack(e + "IIIIIIII", 4, notes_off, 0, 0, len(notes), len(notes), 4, 4)
        null = b"\0" * shentsize
        sec = struct.pack(e + "IIIIIIIIII", 1, 7, 2, 0, notes_off, len(notes), 0, 0, 4, 0)
    else:
        head = ident + struct.pack(e + "HHIQQQIHHHHHH", 2, 62, 1, 0, phoff, shoff if shnum else 0, 0, ehsize, phentsize, 1,
                                   shentsize, shnum, 0)
        ph = struct.pack(e + "IIQQQQQQ", 4 if not with_sections else 1, 4, notes_off, 0, 0, len(notes), len(notes), 4)
        null = b"\0" * shentsize
        sec = struct.pack(e + "IIQQQQIIQQ", 1, 7, 2, 0, notes_off, len(notes), 0, 0, 4, 0)
    body = head + notes + ph
    if with_sections:
        body += null + sec
    return body


def write_vmlinux(path: Path, build_id: bytes | None, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(elf_with_build_id(build_id, **kw))  # type: ignore[arg-type]
    return path
