"""Kernel symbols from the dump's own kallsyms tables (formats.md §4.10), no vmlinux needed.

Used to name the saved program counters of the PRSTATUS notes (``inspect``). The compressed
name stream is decoded lazily and only as far as needed; the address variant (absolute-percpu
or relative-base) is the one that maps ``_stext`` to ``SYMBOL(_stext)``, as makedumpfile checks.
"""

from __future__ import annotations

import bisect
import struct

from crashd.core.errors import VmcoreError
from crashd.vmcore.translate import Translator
from crashd.vmcore.vmcoreinfo import VmcoreInfo

__all__ = ["Kallsyms", "MAX_NAMES_BYTES", "MAX_SYMBOL_SIZE", "MAX_SYMS"]

MAX_SYMS = 1 << 21
MAX_NAMES_BYTES = 16 << 20
MAX_SYMBOL_SIZE = 1 << 24  # beyond this the address is past the last symbol (e.g. a module)


class Kallsyms:
    """Address → ``name+0xoff/0xsize`` for kernel text."""

    def __init__(self, tr: Translator, info: VmcoreInfo):
        need = ["kallsyms_names", "kallsyms_num_syms", "kallsyms_token_table", "kallsyms_token_index",
                "kallsyms_offsets"]
        found = {n: info.symbol(n) for n in need}
        missing = [n for n, v in found.items() if v is None]
        if missing:
            raise VmcoreError(f"no kallsyms in VMCOREINFO ({', '.join(missing)} missing)")
        syms = {n: int(v or 0) for n, v in found.items()}
        self.tr = tr
        e = tr.endian
        num = tr.read_u32(syms["kallsyms_num_syms"])
        if not 0 < num <= MAX_SYMS:
            raise VmcoreError(f"kallsyms_num_syms {num} is implausible")
        raw_index = tr.read_virt(syms["kallsyms_token_index"], 512)
        index = struct.unpack(e + "256H", raw_index)
        table = tr.read_virt(syms["kallsyms_token_table"], max(index) + 256)
        self.tokens = [table[i : table.index(b"\0", i)] if b"\0" in table[i:] else b"" for i in index]
        self.names_va: int = syms["kallsyms_names"]
        offsets = struct.unpack(f"{e}{num}i", tr.read_virt(syms["kallsyms_offsets"], 4 * num))
        base_sym = info.symbol("kallsyms_relative_base")
        base = tr.read_word(base_sym) if base_sym is not None else None
        stext = info.symbol("_stext")
        self.stext = stext
        self._buf = bytearray()
        self._starts = [0]  # offset in the name stream of symbol k, for k < len(_starts)
        self.addresses = self._choose(offsets, base, stext, num)

    def _choose(self, offsets: tuple[int, ...], base: int | None, stext: int | None, num: int) -> list[int]:
        """Pick the address encoding that maps the symbol named ``_stext`` to SYMBOL(_stext)."""
        mask = self.tr.mask
        if stext is None:
            raise VmcoreError("SYMBOL(_stext) missing: cannot validate kallsyms")
        at = next((i for i in range(min(num, 4096)) if self.name(i) == "_stext"), None)
        if at is None:
            raise VmcoreError("kallsyms has no _stext among its first symbols")
        o = offsets[at]
        if base is not None and (o if o >= 0 else (base - 1 - o) & mask) == stext:  # absolute percpu
            return [v if v >= 0 else (base - 1 - v) & mask for v in offsets]
        if base is not None and (base + (o & 0xFFFFFFFF)) & mask == stext:  # relative base
            return [(base + (v & 0xFFFFFFFF)) & mask for v in offsets]
        if o & mask == stext:
            return [v & mask for v in offsets]
        raise VmcoreError("kallsyms tables do not match SYMBOL(_stext)")

    def _ensure(self, end: int) -> None:
        while len(self._buf) < end:
            if len(self._buf) > MAX_NAMES_BYTES:
                raise VmcoreError("kallsyms names stream is implausibly long")
            chunk, _ = self.tr.read_virt_partial(self.names_va + len(self._buf), 1 << 18)
            self._buf += chunk

    def _start(self, i: int) -> int:
        """Offset of symbol ``i``'s entry: walk the length bytes from the last known entry."""
        starts, buf = self._starts, self._buf
        pos = starts[-1]
        while len(starts) <= i:
            if pos + 2 > len(buf):
                self._ensure(pos + 2)
                buf = self._buf
            n = buf[pos]
            if n & 0x80:  # v6.1+: a two-byte length for long names
                pos += 2 + ((n & 0x7F) | (buf[pos + 1] << 7))
            else:
                pos += 1 + n
            starts.append(pos)
        return starts[i]

    def name(self, i: int) -> str:
        """Name of symbol ``i`` (token-expanded; the type letter dropped)."""
        pos = self._start(i)
        self._ensure(pos + 2)
        n = self._buf[pos]
        pos += 1
        if n & 0x80:
            n = (n & 0x7F) | (self._buf[pos] << 7)
            pos += 1
        self._ensure(pos + n)
        full = b"".join(self.tokens[c] for c in self._buf[pos : pos + n])
        return full[1:].decode("ascii", "replace")

    def lookup(self, addr: int) -> str | None:
        """``name+0xoff/0xsize`` as the kernel prints it; None outside vmlinux text (user
        addresses, modules: kallsyms here holds only vmlinux, and per-cpu symbols sit near 0)."""
        if self.stext is None or addr < self.stext:
            return None
        i = bisect.bisect_right(self.addresses, addr) - 1
        if i < 0 or i >= len(self.addresses) - 1:
            return None
        start = self.addresses[i]
        # several symbols can share an address; the size runs to the next different one
        j = i + 1
        while j < len(self.addresses) and self.addresses[j] == start:
            j += 1
        if j >= len(self.addresses) or self.addresses[j] - start > MAX_SYMBOL_SIZE:
            return None
        return f"{self.name(i)}+{addr - start:#x}/{self.addresses[j] - start:#x}"
