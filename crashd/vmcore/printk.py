"""The kernel log inside a dump: lockless ring (≥ 5.10), structured ``log_buf`` (3.5–5.9)
and the legacy character ring (< 3.5) — formats.md §3.3–3.6 and §4.

Readers take a :class:`~crashd.vmcore.translate.Translator` and VMCOREINFO, read the ring
arrays in bounded chunks, and return :class:`LogRecord` objects. The pre-5.10 rings live in
:mod:`crashd.vmcore.logbuf`; rendering is in :mod:`crashd.vmcore.render`.
"""

from __future__ import annotations

import struct

from crashd.core.errors import VmcoreError
from crashd.vmcore.logbuf import read_legacy, read_structured
from crashd.vmcore.memory import MemoryError_
from crashd.vmcore.record import LogRecord, NoPrintkInfo, need_key
from crashd.vmcore.translate import Translator
from crashd.vmcore.vmcoreinfo import VmcoreInfo

__all__ = [
    "CHUNK",
    "MAX_COUNT_BITS",
    "MAX_SIZE_BITS",
    "WHOLE_TEXT_MAX",
    "locate_text",
    "read_lockless",
    "read_log",
    "ring_kind",
]


def ring_kind(info: VmcoreInfo) -> str | None:
    """Which ring format (§3.6, same order as vmcore-dmesg)."""
    if info.symbol("prb") is not None:
        return "lockless"
    if info.symbol("log_first_idx") is not None:
        return "structured"
    if info.symbol("log_buf") is not None and info.symbol("log_end") is not None:
        return "legacy"
    return None


def read_log(tr: Translator, info: VmcoreInfo) -> tuple[list[LogRecord], list[str]]:
    """All records of the ring the dump has, plus warnings for a person."""
    kind = ring_kind(info)
    if kind == "lockless":
        return read_lockless(tr, info)
    if kind == "structured":
        return read_structured(tr, info)
    if kind == "legacy":
        return read_legacy(tr, info)
    raise NoPrintkInfo("no printk information in VMCOREINFO (no SYMBOL(prb) or SYMBOL(log_buf))")


def locate_text(begin: int, nxt: int, size_bits: int, word: int) -> tuple[int, int] | None | str:
    """Where a record's data block is (§4.4): ``(start, size)``, ``"empty"``, ``"lost"`` or ``None`` (invalid)."""
    mask = (1 << (8 * word)) - 1
    n = 1 << size_bits
    if begin & 1 and nxt & 1:
        return "empty" if begin == 3 and nxt == 3 else "lost"
    if begin % word or nxt % word:
        return None
    span = (nxt - begin) & mask
    if (begin >> size_bits) == (((nxt - 1) & mask) >> size_bits) and 0 < span <= n:
        start, size = begin & (n - 1), span
    elif (((begin + n) & mask) >> size_bits) == (nxt >> size_bits):
        start, size = 0, nxt & (n - 1)
    else:
        return None
    if size < word:
        return None
    return start, size


MAX_COUNT_BITS = 22  # kernels derive count_bits = size_bits - 5; log_buf_len tops out far below this
MAX_SIZE_BITS = 28
WHOLE_TEXT_MAX = 1 << 22  # larger text rings (log_buf_len > 4M) are read record by record
CHUNK = 2048  # descriptors/infos read per step: memory stays bounded whatever the ring size


def read_lockless(tr: Translator, info: VmcoreInfo) -> tuple[list[LogRecord], list[str]]:
    """Walk the lockless ring from tail to head (committed and finalized records, §4.1–4.4)."""
    warnings: list[str] = []
    e = tr.endian
    word = info.size("atomic_long_t") or (tr.word_bits // 8)
    if word not in (4, 8):
        raise VmcoreError(f"SIZE(atomic_long_t)={word} is not a word size")
    wcode = "Q" if word == 8 else "I"
    counter = info.offset("atomic_long_t.counter") or 0
    prb_ptr = tr.read_word(need_key(info, "symbol", "prb"))
    rb_size = need_key(info, "size", "printk_ringbuffer")
    if not 0 < rb_size <= 4096:
        raise VmcoreError(f"SIZE(printk_ringbuffer)={rb_size} is implausible")
    try:
        rb = tr.read_virt(prb_ptr, rb_size)
    except VmcoreError as exc:
        raise VmcoreError(f"cannot read the printk ring structure at {prb_ptr:#x}: {exc}") from exc
    dr = need_key(info, "offset", "printk_ringbuffer.desc_ring")
    tr_off = need_key(info, "offset", "printk_ringbuffer.text_data_ring")

    def field(o: int, code: str) -> int:
        if o + struct.calcsize("<" + code) > len(rb):
            raise VmcoreError("printk ring offsets in VMCOREINFO exceed SIZE(printk_ringbuffer)")
        return int(struct.unpack_from(e + code, rb, o)[0])

    count_bits = field(dr + need_key(info, "offset", "prb_desc_ring.count_bits"), "I")
    size_bits = field(tr_off + need_key(info, "offset", "prb_data_ring.size_bits"), "I")
    if not 0 < count_bits <= MAX_COUNT_BITS or not 0 < size_bits <= MAX_SIZE_BITS:
        raise VmcoreError(f"printk ring header is implausible (count_bits {count_bits}, size_bits {size_bits})")
    descs_va = field(dr + need_key(info, "offset", "prb_desc_ring.descs"), wcode)
    infos_va = field(dr + need_key(info, "offset", "prb_desc_ring.infos"), wcode)
    head_id = field(dr + need_key(info, "offset", "prb_desc_ring.head_id") + counter, wcode)
    tail_id = field(dr + need_key(info, "offset", "prb_desc_ring.tail_id") + counter, wcode)
    data_va = field(tr_off + need_key(info, "offset", "prb_data_ring.data"), wcode)
    nd, n = 1 << count_bits, 1 << size_bits
    desc_sz = need_key(info, "size", "prb_desc")
    info_sz = need_key(info, "size", "printk_info")
    if not 0 < desc_sz <= 1024 or not 0 < info_sz <= 4096:
        raise VmcoreError(f"printk record sizes are implausible ({desc_sz}, {info_sz})")

    sv_off = need_key(info, "offset", "prb_desc.state_var") + counter
    lpos_off = need_key(info, "offset", "prb_desc.text_blk_lpos")
    b_off = lpos_off + (info.offset("prb_data_blk_lpos.begin") or 0)
    n_off = lpos_off + (info.offset("prb_data_blk_lpos.next") or word)
    seq_off = info.offset("printk_info.seq") or 0
    ts_off = need_key(info, "offset", "printk_info.ts_nsec")
    len_off = need_key(info, "offset", "printk_info.text_len")
    caller_off = info.offset("printk_info.caller_id")
    dev_off = info.offset("printk_info.dev_info")
    sub_off = info.offset("dev_printk_info.subsystem")
    sub_len = info.length("printk_info_subsystem") or 16
    dev_dev_off = info.offset("dev_printk_info.device")
    dev_len = info.length("printk_info_device") or 48
    desc_st = _layout(e, [(sv_off, wcode), (b_off, wcode), (n_off, wcode)], desc_sz)
    info_fields = [(seq_off, "Q"), (ts_off, "Q"), (len_off, "H"), (len_off + 2, "B"), (len_off + 3, "B")]
    if caller_off is not None:
        info_fields.append((caller_off, "I"))
    info_st = _layout(e, info_fields, info_sz)
    sub_at = dev_off + sub_off if dev_off is not None and sub_off is not None else None
    dev_at = dev_off + dev_dev_off if dev_off is not None and dev_dev_off is not None else None
    if sub_at is not None and sub_at + sub_len > info_sz or dev_at is not None and dev_at + dev_len > info_sz:
        raise VmcoreError("dev_printk_info offsets in VMCOREINFO exceed SIZE(printk_info)")

    data: bytes | None = None
    m_data: list[tuple[int, int, str]] = []

    id_bits = 8 * word - 2
    id_mask = (1 << id_bits) - 1
    lmask = (1 << (8 * word)) - 1
    walign = word - 1
    little = e == "<"
    count = ((head_id - tail_id) & id_mask) + 1
    if count > nd:
        warnings.append("the printk ring's head was not reached (corrupt ids); showing what was found")
        count = nd
    records: list[LogRecord] = []
    corrupt = lost = 0
    lost_kinds: set[str] = set()
    desc_fail: str | None = None
    info_fail: str | None = None
    done = 0
    while done < count:
        rid0 = (tail_id + done) & id_mask
        idx0 = rid0 & (nd - 1)
        k = min(CHUNK, count - done, nd - idx0)
        descs, m_descs = tr.read_virt_partial((descs_va + idx0 * desc_sz) & lmask, k * desc_sz)
        infos, m_infos = tr.read_virt_partial((infos_va + idx0 * info_sz) & lmask, k * info_sz)
        if m_descs and m_descs[0][:2] == (0, k * desc_sz):
            desc_fail = desc_fail or m_descs[0][2]
        if m_infos and m_infos[0][:2] == (0, k * info_sz):
            info_fail = info_fail or m_infos[0][2]
        if done == 0:
            # Name the first array that cannot be read at all (descriptors, infos, then text).
            if desc_fail or info_fail:
                what, va, fail = ("descriptor array", descs_va, desc_fail) if desc_fail else (
                    "record info array", infos_va, info_fail)
                raise VmcoreError(f"cannot read the printk {what} at {va:#x}: {fail}")
            if n <= WHOLE_TEXT_MAX:
                data, m_data = tr.read_virt_partial(data_va, n)
                if m_data and m_data[0][:2] == (0, n):
                    raise VmcoreError(f"cannot read the printk text ring at {data_va:#x}: {m_data[0][2]}")
        for j in range(k):
            rid = (rid0 + j) & id_mask
            do, io = j * desc_sz, j * info_sz
            if (m_descs and _hit(m_descs, do, desc_sz)) or (m_infos and _hit(m_infos, io, info_sz)):
                lost += 1
                lost_kinds.update(m[2] for m in m_descs + m_infos)
                continue
            sv, begin, nxt = desc_st.unpack_from(descs, do)
            state = sv >> id_bits
            if (sv & id_mask) != rid or state not in (1, 2):
                continue
            vals = info_st.unpack_from(infos, io)
            seq, ts, text_len, facility, fl = vals[:5]
            caller = vals[5] if caller_off is not None else 0
            level, flags = (fl >> 5, fl & 0x1F) if little else (fl & 7, fl >> 3)
            subsystem = device = ""
            if sub_at is not None and infos[io + sub_at]:
                subsystem = _cstr(infos, io + sub_at, sub_len)
                if dev_at is not None:
                    device = _cstr(infos, io + dev_at, dev_len)
            span = (nxt - begin) & lmask
            where: tuple[int, int] | str | None
            if not (begin | nxt) & walign and 0 < span <= n and begin >> size_bits == ((nxt - 1) & lmask) >> size_bits:
                where = (begin & (n - 1), span)  # the common, unwrapped block
            else:
                where = locate_text(begin, nxt, size_bits, word)
            if where is None:
                corrupt += 1
                continue
            raw = b""
            if isinstance(where, tuple):
                first, size = where
                tn = min(text_len, size - word)
                if data is not None:
                    if m_data and _hit(m_data, first, word + tn):
                        lost += 1
                        lost_kinds.update(m[2] for m in m_data)
                        continue
                    raw = data[first + word : first + word + tn]
                else:
                    try:
                        raw = tr.read_virt((data_va + first + word) & lmask, tn)
                    except MemoryError_ as exc:
                        lost += 1
                        lost_kinds.add(exc.kind)
                        continue
            records.append(LogRecord(seq, ts, level, facility, flags, caller, raw, subsystem, device,
                                     _STATES[state], where == "lost"))
        done += k
    if not records:
        for what, va, fail in (("descriptor array", descs_va, desc_fail), ("record info array", infos_va, info_fail)):
            if fail:
                raise VmcoreError(f"cannot read the printk {what} at {va:#x}: {fail}")
    if lost:
        why = ", ".join(sorted(lost_kinds))
        warnings.append(f"{lost} printk record(s) unreadable ({why}); their lines are missing")
    if corrupt:
        warnings.append(f"{corrupt} printk record(s) had invalid text positions and were skipped")
    return records, warnings


_STATES = {1: "committed", 2: "finalized"}


def _layout(endian: str, fields: list[tuple[int, str]], total: int) -> struct.Struct:
    """A Struct reading ``fields`` ((offset, code), in the given order) from one array element."""
    order = sorted(range(len(fields)), key=lambda i: fields[i][0])
    if order != list(range(len(fields))):
        raise VmcoreError("printk structure offsets in VMCOREINFO are not in the expected order")
    fmt, pos = endian, 0
    for off, code in fields:
        if off < pos:
            raise VmcoreError("printk structure offsets in VMCOREINFO overlap")
        fmt += f"{off - pos}x{code}" if off > pos else code
        pos = off + struct.calcsize("<" + code)
    if pos > total:
        raise VmcoreError("printk structure offsets in VMCOREINFO exceed the structure size")
    return struct.Struct(fmt)


def _cstr(buf: bytes, off: int, length: int) -> str:
    return buf[off : off + length].split(b"\0", 1)[0].decode("ascii", "replace")


def _hit(missing: list[tuple[int, int, str]], off: int, size: int) -> bool:
    return any(s < off + size and off < e for s, e, _ in missing)
