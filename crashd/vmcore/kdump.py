"""makedumpfile's kdump-compressed format and its flattened (``-F``) wrapper (formats.md §5).

Pages are found through the 2nd ("dumpable") bitmap and a page_desc table, decompressed one
at a time and cached a few at a time: memory stays bounded whatever the dump's size. The
flattened stream is served through an offset index instead of being rebuilt on disk.
"""

from __future__ import annotations

import bisect
import heapq
import struct
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from crashd.core.errors import VmcoreError
from crashd.vmcore.elf import Note, parse_notes
from crashd.vmcore.memory import NotInDump, PageExcluded, PageIncomplete, UnsupportedCompression

__all__ = [
    "FLAT_WINDOW",
    "FlatReader",
    "KdumpVmcore",
    "MAX_FLAT_RECORDS",
    "MAX_NOTES",
    "PAGE_CACHE",
    "Reader",
    "STATUS_INCOMPLETE",
    "open_flat",
]

FLAG_ZLIB, FLAG_LZO, FLAG_SNAPPY, FLAG_ZSTD = 0x1, 0x2, 0x4, 0x20
STATUS_INCOMPLETE = 0x8
PAGE_CACHE = 32
MAX_NOTES = 16 << 20
FLAT_WINDOW = 1 << 16  # stream bytes read at once while indexing record headers
# makedumpfile -F writes one record per flush of its 64 KiB cache: 4 M records carry 256 GiB of
# compressed pages. Indexing costs 50-100 bytes a record while it is built, so this bounds it.
MAX_FLAT_RECORDS = 1 << 22


class Reader(Protocol):
    path: str
    size: int

    def pread(self, offset: int, size: int) -> bytes: ...


class FlatReader:
    """The file a flattened stream describes, read through an index of its records.

    The index is built in O(n log n) for n records, whatever their order (a hostile stream of
    descending one-byte records made the old sorted-list insertion quadratic): records are
    collected in stream order, then one sweep in offset order keeps, for every byte, the
    latest record that wrote it.
    """

    def __init__(self, src: Reader):
        self.src = src
        self.path = src.path
        self.warnings: list[str] = []
        self.truncated = False
        head = src.pread(16, 16)
        if len(head) < 16 or struct.unpack(">qq", head) != (1, 1):
            raise VmcoreError(f"{src.path}: unsupported flattened-dump header (type/version not 1/1)")
        starts, sizes, positions = self._scan()
        self._starts, self._ends, self._pos = _resolve(starts, sizes, positions)
        self.size = self._ends[-1] if self._ends else 0

    @property
    def intervals(self) -> int:
        """How many disjoint pieces the reconstructed file is made of."""
        return len(self._starts)

    def _scan(self) -> tuple[array[int], array[int], array[int]]:
        """Every record's (offset, size, data position), in stream order; headers are read
        through a window so that a stream of tiny records is not one pread per record."""
        src = self.src
        starts, sizes, positions = array("q"), array("q"), array("q")
        pos = 4096
        win, win_at = b"", pos
        terminated = False
        while True:
            if not win_at <= pos <= win_at + len(win) - 16:
                win, win_at = src.pread(pos, FLAT_WINDOW), pos
            rel = pos - win_at
            if len(win) - rel < 16:
                break
            off, size = _FLAT_REC.unpack_from(win, rel)
            if off == -1 and size == -1:
                terminated = True
                break
            if off < 0 or size <= 0:
                raise VmcoreError(f"{src.path}: corrupt flattened dump (record at {pos}: offset {off}, size {size})")
            if len(starts) >= MAX_FLAT_RECORDS:
                raise VmcoreError(f"{src.path}: more than {MAX_FLAT_RECORDS} flattened records: not a real dump")
            data_at = pos + 16
            if data_at + size > src.size:
                size = src.size - data_at
                if size > 0:
                    starts.append(off)
                    sizes.append(size)
                    positions.append(data_at)
                break
            starts.append(off)
            sizes.append(size)
            positions.append(data_at)
            pos = data_at + size
        if not terminated:
            self.truncated = True
            self.warnings.append("truncated flattened dump: the stream ends before its end marker")
        return starts, sizes, positions

    def pread(self, offset: int, size: int) -> bytes:
        out = bytearray()
        end = min(offset + size, self.size)
        starts, ends, positions = self._starts, self._ends, self._pos
        i = max(bisect.bisect_right(starts, offset) - 1, 0)
        cur = offset
        while cur < end and i < len(starts):
            s, e = starts[i], ends[i]
            if e <= cur:
                i += 1
                continue
            if s > cur:
                gap = min(s, end) - cur
                out += bytes(gap)
                cur += gap
                continue
            n = min(e, end) - cur
            chunk = self.src.pread(positions[i] + (cur - s), n)
            out += chunk
            cur += n
            if len(chunk) < n:
                break
            i += 1
        return bytes(out)


_FLAT_REC = struct.Struct(">qq")


def _resolve(starts: array[int], sizes: array[int], positions: array[int]) -> tuple[array[int], array[int], array[int]]:
    """Disjoint (start, end, data position) pieces, sorted, where the later record wins each byte.

    A sweep in offset order over the records with a heap of the active ones keyed by stream
    order: each step either takes the next record or retires the current winner, so there
    are O(n) steps of O(log n). makedumpfile writes almost in order (the header is rewritten
    last), so the records are split into the ascending run and the rest, and only the rest
    is sorted before the two are merged.
    """
    run, rest = array("q"), array("q")
    last = -1
    for i, start in enumerate(starts):
        if start >= last:
            run.append(i)
            last = start
        else:
            rest.append(i)
    order = heapq.merge(run, sorted(rest, key=starts.__getitem__), key=starts.__getitem__) if rest else iter(run)
    del rest
    out_s, out_e, out_p = array("q"), array("q"), array("q")
    # (-stream index, end) of records that started at or before the sweep point. Retired ones
    # are dropped lazily from the top, and by a compaction whenever the heap doubled, so that
    # the ones buried under later records do not pile up (ascending streams bury every one).
    heap: list[tuple[int, int]] = []
    compact_at = 1024
    nxt = next(order, None)
    cur = 0
    owner = -1
    while nxt is not None or heap:
        if not heap and nxt is not None and starts[nxt] > cur:
            cur = starts[nxt]
        while nxt is not None and starts[nxt] <= cur:
            heapq.heappush(heap, (-nxt, starts[nxt] + sizes[nxt]))
            nxt = next(order, None)
        if len(heap) >= compact_at:
            heap = [h for h in heap if h[1] > cur]
            heapq.heapify(heap)
            compact_at = max(1024, 2 * len(heap))
        while heap and heap[0][1] <= cur:
            heapq.heappop(heap)
        if not heap:
            continue
        neg, end = heap[0]
        rec = -neg
        if nxt is not None and starts[nxt] < end:
            end = starts[nxt]
        p = positions[rec] + (cur - starts[rec])
        if rec == owner and out_e[-1] == cur:
            out_e[-1] = end  # the same record continues past a start it hides
        else:
            out_s.append(cur)
            out_e.append(end)
            out_p.append(p)
            owner = rec
        cur = end
    return out_s, out_e, out_p


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
        elif self.header_version >= 4 and size_note:
            self.warnings.append(f"the kdump sub-header's note size {size_note} is implausible: notes not read")
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
