"""makedumpfile's kdump-compressed format and its flattened (``-F``) wrapper (formats.md §5).

Pages are found through the 2nd ("dumpable") bitmap and a page_desc table, decompressed one
at a time and cached a few at a time: memory stays bounded whatever the dump's size. The
flattened stream is served through an offset index instead of being rebuilt on disk.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from crashd.core.errors import VmcoreError
from crashd.vmcore.elf import Note, parse_notes
from crashd.vmcore.memory import NotInDump, PageExcluded, PageIncomplete, UnsupportedCompression

__all__ = ["FlatReader", "KdumpVmcore", "MAX_NOTES", "PAGE_CACHE", "Reader", "STATUS_INCOMPLETE", "open_flat"]

FLAG_ZLIB, FLAG_LZO, FLAG_SNAPPY, FLAG_ZSTD = 0x1, 0x2, 0x4, 0x20
STATUS_INCOMPLETE = 0x8
PAGE_CACHE = 32
MAX_NOTES = 16 << 20


class Reader(Protocol):
    path: str
    size: int

    def pread(self, offset: int, size: int) -> bytes: ...


class FlatReader:
    """The file a flattened stream describes, read through an index of its records."""

    def __init__(self, src: Reader):
        self.src = src
        self.path = src.path
        self.warnings: list[str] = []
        self.truncated = False
        self._starts: list[int] = []
        self._ivs: list[tuple[int, int, int]] = []  # (start, end, position in the flat file)
        head = src.pread(16, 16)
        if len(head) < 16 or struct.unpack(">qq", head) != (1, 1):
            raise VmcoreError(f"{src.path}: unsupported flattened-dump header (type/version not 1/1)")
        pos = 4096
        terminated = False
        while True:
            rec = src.pread(pos, 16)
            if len(rec) < 16:
                break
            off, size = struct.unpack(">qq", rec)
            if off == -1 and size == -1:
                terminated = True
                break
            if off < 0 or size <= 0:
                raise VmcoreError(f"{src.path}: corrupt flattened dump (record at {pos}: offset {off}, size {size})")
            if pos + 16 + size > src.size:
                self._add(off, src.size - pos - 16, pos + 16)
                break
            self._add(off, size, pos + 16)
            pos += 16 + size
        if not terminated:
            self.truncated = True
            self.warnings.append("truncated flattened dump: the stream ends before its end marker")
        self.size = self._ivs[-1][1] if self._ivs else 0

    def _add(self, start: int, size: int, pos: int) -> None:
        """Insert a record; later records overwrite earlier bytes."""
        if size <= 0:
            return
        end = start + size
        i = bisect.bisect_right(self._starts, start) - 1
        pieces: list[tuple[int, int, int]] = []
        if i >= 0 and self._ivs[i][1] > start:
            s, e, p = self._ivs[i]
            if s < start:
                pieces.append((s, start, p))
            if e > end:
                pieces.append((end, e, p + (end - s)))
        else:
            i += 1
        j = i
        while j < len(self._ivs) and self._ivs[j][0] < end:
            s, e, p = self._ivs[j]
            if e > end and s >= start:
                pieces.append((end, e, p + (end - s)))
            j += 1
        pieces.append((start, end, pos))
        pieces.sort()
        self._ivs[i:j] = pieces
        self._starts[i:j] = [pc[0] for pc in pieces]

    def pread(self, offset: int, size: int) -> bytes:
        out = bytearray()
        end = min(offset + size, self.size)
        i = max(bisect.bisect_right(self._starts, offset) - 1, 0)
        cur = offset
        while cur < end and i < len(self._ivs):
            s, e, p = self._ivs[i]
            if e <= cur:
                i += 1
                continue
            if s > cur:
                gap = min(s, end) - cur
                out += bytes(gap)
                cur += gap
                continue
            n = min(e, end) - cur
            chunk = self.src.pread(p + (cur - s), n)
            out += chunk
            cur += n
            if len(chunk) < n:
                break
            i += 1
        return bytes(out)


def open_flat(src: Reader) -> FlatReader:
    return FlatReader(src)


def _decoder(flags: int, block_size: int) -> Callable[[bytes], bytes]:
    """The page decompressor for ``flags``; its library is imported only now."""
    if flags & FLAG_ZLIB:
        return zlib.decompress
    if flags & FLAG_LZO:
        try:
            import lzo  # type: ignore[import-not-found]
        except ImportError:
            raise UnsupportedCompression("lzo") from None
        return lambda b: bytes(lzo.decompress(b, False, block_size))
    if flags & FLAG_SNAPPY:
        # cramjam from pip; Debian 12 has no cramjam package, its python3-snappy is the fallback
        try:
            import cramjam
        except ImportError:
            try:
                import snappy  # type: ignore[import-not-found]
            except ImportError:
                raise UnsupportedCompression("snappy") from None
            return lambda b: bytes(snappy.decompress(b))
        return lambda b: bytes(cramjam.snappy.decompress_raw(b))
    if flags & FLAG_ZSTD:
        try:
            import zstandard
        except ImportError:
            raise UnsupportedCompression("zstd") from None
        dctx = zstandard.ZstdDecompressor()
        return lambda b: bytes(dctx.decompress(b, max_output_size=block_size))
    raise VmcoreError(f"unknown page compression flags {flags:#x}")


class KdumpVmcore:
    """Headers, notes and ``read_phys`` of a kdump-compressed file."""

    format = "kdump"

    def __init__(self, src: Reader, path: str):
        self.src = src
        self.path = path
        self.warnings: list[str] = list(getattr(src, "warnings", []))
        hdr = src.pread(0, 464)
        if len(hdr) < 464 or hdr[:8] != b"KDUMP   ":
            raise VmcoreError(f"{path}: truncated kdump header")
        (self.header_version,) = struct.unpack_from("<i", hdr, 8)

        def uts(i: int) -> str:
            return hdr[12 + 65 * i : 12 + 65 * i + 65].split(b"\0", 1)[0].decode("ascii", "replace")

        self.uts_release = uts(2)
        self.uts_machine = uts(4)
        self.arm32 = self.uts_machine.startswith("arm") and self.uts_machine != "arm64"
        i386 = self.uts_machine in ("i386", "i486", "i586", "i686")
        ilp32 = self.arm32 or i386  # a 32-bit makedumpfile: 4-byte timeval fields shift the rest
        base = 412 if ilp32 else 424
        self.status, bs, sub_blocks, bitmap_blocks, max_mapnr = struct.unpack_from("<IiiII", hdr, base)
        self.nr_cpus = struct.unpack_from("<i", hdr, base + 36)[0]
        if bs <= 0 or bs & (bs - 1) or bs > 1 << 20:
            raise VmcoreError(f"{path}: implausible kdump block size {bs}")
        self.block_size = bs
        self.phys_base: int | None = None
        self.vmcoreinfo_text: bytes | None = None
        self.notes: list[Note] = []
        if i386:
            # Its sub-header packs 8-byte fields on 4-byte boundaries: a layout not checked
            # against a real dump, so do not guess (formats.md §5.2 documents only armhf).
            self.warnings.append("32-bit x86 kdump sub-header is not supported: no notes or VMCOREINFO read")
        else:
            max_mapnr = self._read_sub_header(max_mapnr)
        self.max_mapnr = max_mapnr
        bitmap_bytes = (max_mapnr + 7) // 8
        half = (bitmap_bytes + bs - 1) // bs
        self.bitmap_off = (1 + sub_blocks) * bs
        two = bitmap_blocks >= 2 * half
        self.bitmap2_off = self.bitmap_off + (bitmap_blocks // 2) * bs if two else self.bitmap_off
        self.bitmap1_off = self.bitmap_off if two else None
        self.table_off = (1 + sub_blocks + bitmap_blocks) * bs
        if bitmap_bytes > (bitmap_blocks // 2 if two else bitmap_blocks) * bs or sub_blocks < 0:
            raise VmcoreError(f"{path}: inconsistent kdump header (max_mapnr {max_mapnr} does not fit its bitmaps)")
        self.incomplete = bool(self.status & STATUS_INCOMPLETE)
        if self.incomplete:
            self.warnings.append("makedumpfile marked this dump incomplete (it ran out of space)")
        self._chunk_bits = bs * 8
        self._prefix = self._count_prefix()
        self.truncated = bool(getattr(src, "truncated", False))
        self._check_end()
        self._pages: OrderedDict[int, bytes] = OrderedDict()
        self._decoders: dict[int, Callable[[bytes], bytes]] = {}

    def _read_sub_header(self, max_mapnr: int) -> int:
        """phys_base, notes and VMCOREINFO from the sub-header (§5.3); returns max_mapnr
        (the 64-bit copy from header version 6 on)."""
        sub = self.src.pread(self.block_size, 104)
        if len(sub) < 104:
            self.warnings.append("the kdump sub-header is missing (truncated file)")
            return max_mapnr
        if self.arm32:  # 4-byte longs, 8-byte fields 8-byte aligned
            self.phys_base = struct.unpack_from("<I", sub, 0)[0]
            off_vi, size_vi = struct.unpack_from("<qI", sub, 24)
            off_note, size_note = struct.unpack_from("<qI", sub, 40)
            mapnr64 = struct.unpack_from("<Q", sub, 88)[0]
        else:
            self.phys_base = struct.unpack_from("<Q", sub, 0)[0]
            off_vi, size_vi, off_note, size_note = struct.unpack_from("<qQqQ", sub, 32)
            mapnr64 = struct.unpack_from("<Q", sub, 96)[0]
        if self.header_version >= 4 and 0 < size_note <= MAX_NOTES:
            self.notes = parse_notes(self.src.pread(off_note, size_note))
        if self.header_version >= 3 and 0 < size_vi <= MAX_NOTES:
            self.vmcoreinfo_text = self.src.pread(off_vi, size_vi)
        return mapnr64 if self.header_version >= 6 and mapnr64 else max_mapnr

    # ---------------------------------------------------------------- bitmaps
    def _count_prefix(self) -> list[int]:
        """Set bits of the 2nd bitmap before each bitmap block (for page_desc indices)."""
        nbytes = -(-self.max_mapnr // 8)
        prefix = [0]
        pos = 0
        step = self.block_size * 256
        while pos < nbytes:
            data = self.src.pread(self.bitmap2_off + pos, min(step, nbytes - pos))
            if not data:
                break
            for o in range(0, len(data), self.block_size):
                prefix.append(prefix[-1] + int.from_bytes(data[o : o + self.block_size], "little").bit_count())
            pos += len(data)
        return prefix

    def _check_end(self) -> None:
        total = self._prefix[-1]
        bitmap_blocks = ((self.max_mapnr + 7) // 8 + self.block_size - 1) // self.block_size
        if len(self._prefix) - 1 < bitmap_blocks:
            self.truncated = True  # the file ends inside the bitmaps
        last = self.src.pread(self.table_off + 24 * (total - 1), 24) if total else b"\0" * 24
        if len(last) < 24:
            self.truncated = True
        else:
            off, size = struct.unpack_from("<qI", last)
            if off and off + size > self.src.size:
                self.truncated = True
        if self.truncated:
            self.warnings.append(f"the file is truncated: {self.src.size} bytes present, pages past that are missing")

    def _bit(self, base: int | None, pfn: int) -> bool:
        if base is None:
            return True
        b = self.src.pread(base + (pfn >> 3), 1)
        return bool(b and b[0] >> (pfn & 7) & 1)

    def _index(self, pfn: int) -> int:
        chunk = pfn // self._chunk_bits
        if chunk >= len(self._prefix) - 1:
            raise NotInDump(pfn * self.block_size, "beyond the bitmap (truncated file)")
        start_byte = chunk * self.block_size
        within = pfn - chunk * self._chunk_bits
        data = self.src.pread(self.bitmap2_off + start_byte, (within >> 3) + 1)
        count = int.from_bytes(data[: within >> 3], "little").bit_count()
        if len(data) > within >> 3:
            count += (data[within >> 3] & ((1 << (within & 7)) - 1)).bit_count()
        return int(self._prefix[chunk]) + count

    # ---------------------------------------------------------------- pages
    def read_page(self, pfn: int) -> bytes:
        cached = self._pages.get(pfn)
        if cached is not None:
            self._pages.move_to_end(pfn)
            return cached
        pa = pfn * self.block_size
        if pfn >= self.max_mapnr or pfn < 0:
            raise NotInDump(pa)
        if not self._bit(self.bitmap2_off, pfn):
            if self._bit(self.bitmap1_off, pfn):
                raise PageExcluded(pa)
            raise NotInDump(pa, "memory hole")
        idx = self._index(pfn)
        desc = self.src.pread(self.table_off + 24 * idx, 24)
        if len(desc) < 24:
            raise NotInDump(pa, "page table truncated")
        off, size, flags = struct.unpack_from("<qII", desc)
        if off == 0:
            if self.truncated:
                raise NotInDump(pa, "file truncated")
            raise PageIncomplete(pa)
        if off < 0 or size > self.block_size or size == 0:
            raise VmcoreError(f"corrupt page descriptor for pfn {pfn:#x}")
        raw = self.src.pread(off, size)
        if len(raw) < size:
            raise NotInDump(pa, "file truncated")
        if flags & (FLAG_ZLIB | FLAG_LZO | FLAG_SNAPPY | FLAG_ZSTD):
            try:
                decode = self._decoders.get(flags)
                if decode is None:
                    decode = self._decoders[flags] = _decoder(flags, self.block_size)
                page = decode(raw)
            except UnsupportedCompression:
                raise
            except Exception as exc:  # codec libraries raise their own types
                raise VmcoreError(f"page {pfn:#x}: cannot decompress: {exc}") from exc
        elif flags:
            raise VmcoreError(f"page {pfn:#x}: unknown compression flags {flags:#x}")
        else:
            page = raw
        if len(page) != self.block_size:
            raise VmcoreError(f"page {pfn:#x}: decompressed to {len(page)} bytes, not {self.block_size}")
        self._pages[pfn] = page
        if len(self._pages) > PAGE_CACHE:
            self._pages.popitem(last=False)
        return page

    def read_phys(self, pa: int, size: int) -> bytes:
        bs = self.block_size
        base = (self.phys_base or 0) if self.arm32 else 0
        out = bytearray()
        while size > 0:
            rel = pa - base
            pfn, off = divmod(rel, bs)
            n = min(size, bs - off)
            out += self.read_page(pfn)[off : off + n]
            pa += n
            size -= n
        return bytes(out)
