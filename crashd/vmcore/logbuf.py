"""The kernel log of pre-5.10 kernels: the structured ``log_buf`` (3.5–5.9, formats.md §4.8)
and the legacy character ring (< 3.5, §4.9). Both are read whole, so their size is bounded."""

from __future__ import annotations

import struct

from crashd.core.errors import VmcoreError
from crashd.vmcore.record import LogRecord, need_key, read_named
from crashd.vmcore.translate import Translator
from crashd.vmcore.vmcoreinfo import VmcoreInfo

__all__ = ["MAX_LOG_BUF", "read_legacy", "read_structured"]

MAX_LOG_BUF = 1 << 26  # kernels cap log_buf_len at 32 MiB (CONFIG_LOG_BUF_SHIFT <= 25)


def read_structured(tr: Translator, info: VmcoreInfo) -> tuple[list[LogRecord], list[str]]:
    """The 3.5–5.9 ``log_buf`` of variable-length records (§4.8)."""
    e = tr.endian
    warnings: list[str] = []
    buf_va = tr.read_word(need_key(info, "symbol", "log_buf"))
    length = tr.read_u32(need_key(info, "symbol", "log_buf_len"))
    first = tr.read_u32(need_key(info, "symbol", "log_first_idx"))
    nxt = tr.read_u32(need_key(info, "symbol", "log_next_idx"))
    if not 0 < length <= MAX_LOG_BUF:
        raise VmcoreError(f"log_buf_len {length} is implausible")
    buf = read_named(tr, buf_va, length, "log_buf")
    h = info.size("printk_log") or info.size("log") or 16

    def off(field: str, default: int) -> int:
        v = info.offset(f"printk_log.{field}")
        if v is None:
            v = info.offset(f"log.{field}")
        return default if v is None else v

    ts_o, len_o, tl_o, dl_o = off("ts_nsec", 0), off("len", 8), off("text_len", 10), off("dict_len", 12)
    caller_o = info.offset("printk_log.caller_id")
    if caller_o is not None and caller_o + 4 > h:
        caller_o = None  # a header without room for it (pre-5.1 size) carries no caller id
    # Every field must lie inside the record header, facility and flags at 14 and 15 included:
    # a VMCOREINFO that says otherwise would make each record read past its header.
    layout = [(ts_o, 8), (len_o, 2), (tl_o, 2), (dl_o, 2)]
    if not 16 <= h <= 4096 or any(o + n > h for o, n in layout):
        raise VmcoreError(f"printk_log layout in VMCOREINFO is implausible (size {h}, fields at {[o for o, _ in layout]})")
    records: list[LogRecord] = []
    idx, wrapped, seq = first, False, 0
    for _ in range(length // h + 2):
        if idx == nxt:
            break
        if idx + h > length or struct.unpack_from(e + "H", buf, idx + len_o)[0] == 0:
            if wrapped:
                warnings.append("log_buf wrapped twice; stopping")
                break
            idx, wrapped = 0, True
            continue
        ts = struct.unpack_from(e + "Q", buf, idx + ts_o)[0]
        rlen, tlen, dlen = (struct.unpack_from(e + "H", buf, idx + o)[0] for o in (len_o, tl_o, dl_o))
        facility, fl = buf[idx + 14], buf[idx + 15]
        caller = struct.unpack_from(e + "I", buf, idx + caller_o)[0] if caller_o is not None else 0
        raw = buf[idx + h : idx + h + tlen]
        dct = buf[idx + h + tlen : idx + h + tlen + dlen]
        fields = dict(kv.split(b"=", 1) for kv in dct.split(b"\0") if b"=" in kv)
        level, flags = (fl >> 5, fl & 0x1F) if e == "<" else (fl & 7, fl >> 3)
        records.append(LogRecord(seq, ts, level, facility, flags, caller, bytes(raw),
                                 fields.get(b"SUBSYSTEM", b"").decode("ascii", "replace"),
                                 fields.get(b"DEVICE", b"").decode("ascii", "replace")))
        seq += 1
        if rlen < h or idx + rlen > length:
            warnings.append("log_buf record chain is corrupt; stopping")
            break
        idx += rlen
    return records, warnings


def read_legacy(tr: Translator, info: VmcoreInfo) -> tuple[list[LogRecord], list[str]]:
    """The pre-3.5 character ring (§4.9): one record per line, text as stored."""
    buf_va = tr.read_word(need_key(info, "symbol", "log_buf"))
    end = tr.read_u32(need_key(info, "symbol", "log_end"))
    length = struct.unpack(tr.endian + "i", tr.read_virt(need_key(info, "symbol", "log_buf_len"), 4))[0]
    if not 0 < length <= MAX_LOG_BUF:
        raise VmcoreError(f"log_buf_len {length} is implausible")
    buf = read_named(tr, buf_va, length, "log_buf")
    pos = end % length
    text = (buf[pos:] + buf[:pos])[-min(end, length):]
    lines = text.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [LogRecord(i, 0, 6, 0, 0, 0, ln, state="legacy") for i, ln in enumerate(lines)], []
