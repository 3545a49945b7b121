"""Synthetic vmcores built in code (docs/formats.md §7), for crashd's tests.

A :class:`Machine` is a crashed kernel's memory as the reader would see it: physical
segments (with the kernel VA each was mapped at), the CPU register notes and the
VMCOREINFO text. Writers turn one Machine into each container format a user meets:
ELF (``/proc/vmcore``, ``makedumpfile -E``), kdump-compressed and flattened.

Quick use (what other helpers' tests need)::

    expected = write_elf_vmcore(path, messages=["hello", "Kernel panic - not syncing: x"])
    assert dmesg_of(path)[0] == expected

The expected text is rendered here independently of crashd (a second implementation of
the vmcore-dmesg format), so comparing the two is a real test.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

U64 = 0xFFFF_FFFF_FFFF_FFFF
START_KERNEL_MAP = 0xFFFF_FFFF_8000_0000

# Vector A constants (formats.md §7.1.1)
PHYS_BASE = 0x2A000000
IMG_VA = 0xFFFF_FFFF_9F00_0000
IMG_PA = 0x49000000
DM_PA = 0x1_0000_0000
DM_VA = 0xFFFF_9D5B_4000_0000
PAGE_OFFSET_BASE = 0xFFFF_9D5A_4000_0000

# arm64 layout used by the arm64 variant (formats.md §7.6)
A64_PAGE_OFFSET = 0xFFFF_0000_0000_0000
A64_PHYS_OFFSET = 0x40000000
A64_KIMAGE_VOFFSET = 0xFFFF_7FFF_C000_0000
A64_IMG_VA = 0xFFFF_8000_8000_0000
A64_IMG_PA = (A64_IMG_VA - A64_KIMAGE_VOFFSET) & U64  # 0xc0000000
A64_DM_PA = 0x50000000
A64_DM_VA = A64_PAGE_OFFSET + A64_DM_PA - A64_PHYS_OFFSET

PAGE = 4096


# --------------------------------------------------------------------------- data model


@dataclass
class Segment:
    """One physically contiguous range, mapped at ``vaddr`` by the crashed kernel."""

    paddr: int
    vaddr: int
    data: bytearray

    def put(self, va: int, blob: bytes) -> None:
        off = va - self.vaddr
        assert 0 <= off and off + len(blob) <= len(self.data), hex(va)
        self.data[off : off + len(blob)] = blob


@dataclass
class Machine:
    """A crashed kernel's memory, registers and VMCOREINFO, container-agnostic."""

    arch: str  # "x86_64" | "aarch64"
    segments: list[Segment]
    vmcoreinfo: str
    prstatus: list[bytes]
    release: str = "6.8.0-synth"
    extra_notes: list[tuple[bytes, int, bytes]] = field(default_factory=list)

    @property
    def e_machine(self) -> int:
        return {"x86_64": 62, "aarch64": 183, "arm": 40}[self.arch]

    def note_bytes(self) -> bytes:
        out = b"".join(note(b"CORE", 1, d) for d in self.prstatus)
        out += b"".join(note(n, t, d) for n, t, d in self.extra_notes)
        return out + note(b"VMCOREINFO", 0, self.vmcoreinfo.encode())

    def vmcoreinfo_offset_in_notes(self) -> int:
        """Offset of the VMCOREINFO descriptor text inside :meth:`note_bytes`."""
        head = b"".join(note(b"CORE", 1, d) for d in self.prstatus)
        head += b"".join(note(n, t, d) for n, t, d in self.extra_notes)
        return len(head) + 12 + _pad4(len(b"VMCOREINFO\0"))


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    """One ELF note with 4-byte padding (what the kernel writes, also in ELF64)."""
    n = name + b"\0"
    return (
        struct.pack("<III", len(n), len(desc), ntype)
        + n.ljust(_pad4(len(n)), b"\0")
        + desc.ljust(_pad4(len(desc)), b"\0")
    )


def prstatus_x86_64(pid: int, rip: int, rsp: int, cs: int = 0x10) -> bytes:
    d = bytearray(336)
    struct.pack_into("<i", d, 32, pid)
    struct.pack_into("<QQQQQ", d, 240, rip, cs, 0x246, rsp, 0x18)
    return bytes(d)


def prstatus_arm64(pid: int, pc: int, sp: int, pstate: int = 0x3C5) -> bytes:
    d = bytearray(392)
    struct.pack_into("<i", d, 32, pid)
    struct.pack_into("<QQQ", d, 360, sp, pc, pstate)
    return bytes(d)


# --------------------------------------------------------------------------- log records


@dataclass
class Msg:
    """One printk record to place in the ring."""

    text: bytes
    ts_nsec: int
    level: int = 6
    caller: int = 1
    state: int = 2  # 1 committed, 2 finalized, 0 reserved, 3 reusable
    subsystem: bytes = b""
    device: bytes = b""
    lpos: tuple[int, int] | None = None  # (begin, next) override, e.g. NO_LPOS (3, 3)


def as_msgs(messages: Iterable[str | bytes | tuple[int, str | bytes] | Msg]) -> list[Msg]:
    """Accept plain strings (timestamps 1 s apart), (ts_nsec, text) tuples or Msg."""
    out: list[Msg] = []
    for i, m in enumerate(messages):
        if isinstance(m, Msg):
            out.append(m)
        elif isinstance(m, tuple):
            t = m[1].encode() if isinstance(m[1], str) else m[1]
            out.append(Msg(t, m[0]))
        else:
            t = m.encode() if isinstance(m, str) else m
            out.append(Msg(t, (i + 1) * 1_000_000_000 + 123_456_000))
    return out


def _escape(data: bytes) -> str:
    return "".join(chr(b) if (0x20 <= b < 0x7F or b in b"\t\n\v\f\r") else f"\\x{b:02x}" for b in data)


def expected_dmesg(msgs: Sequence[Msg]) -> str:
    """vmcore-dmesg rendering of the live records, in ring order (second implementation)."""
    out = []
    for m in msgs:
        if m.state not in (1, 2) or m.lpos == (1, 1):
            continue
        s, ns = divmod(m.ts_nsec, 1_000_000_000)
        out.append(f"[{s:5d}.{ns // 1000:06d}] " + _escape(m.text) + "\n")
    return "".join(out)


# --------------------------------------------------------------------------- VMCOREINFO

_PRB_KEYS = """SIZE(printk_ringbuffer)=88
OFFSET(printk_ringbuffer.desc_ring)=0
OFFSET(printk_ringbuffer.text_data_ring)=48
OFFSET(printk_ringbuffer.fail)=80
SIZE(prb_desc_ring)=48
OFFSET(prb_desc_ring.count_bits)=0
OFFSET(prb_desc_ring.descs)=8
OFFSET(prb_desc_ring.infos)=16
OFFSET(prb_desc_ring.head_id)=24
OFFSET(prb_desc_ring.tail_id)=32
SIZE(prb_desc)=24
OFFSET(prb_desc.state_var)=0
OFFSET(prb_desc.text_blk_lpos)=8
SIZE(prb_data_blk_lpos)=16
OFFSET(prb_data_blk_lpos.begin)=0
OFFSET(prb_data_blk_lpos.next)=8
SIZE(printk_info)=88
OFFSET(printk_info.seq)=0
OFFSET(printk_info.ts_nsec)=8
OFFSET(printk_info.text_len)=16
OFFSET(printk_info.caller_id)=20
OFFSET(printk_info.dev_info)=24
SIZE(dev_printk_info)=64
OFFSET(dev_printk_info.subsystem)=0
LENGTH(printk_info_subsystem)=16
OFFSET(dev_printk_info.device)=16
LENGTH(printk_info_device)=48
SIZE(prb_data_ring)=32
OFFSET(prb_data_ring.size_bits)=0
OFFSET(prb_data_ring.data)=8
OFFSET(prb_data_ring.head_lpos)=16
OFFSET(prb_data_ring.tail_lpos)=24
SIZE(atomic_long_t)=8
OFFSET(atomic_long_t.counter)=0
SIZE(latched_seq)=24
OFFSET(latched_seq.val)=8
"""


def vmcoreinfo_x86_64(release: str, img_va: int, crash_time: int | None, *, prb: bool = True) -> str:
    lines = [
        f"OSRELEASE={release}",
        "BUILD-ID=0123456789abcdef0123456789abcdef01234567",
        "PAGESIZE=4096",
        f"SYMBOL(init_uts_ns)={img_va + 0x800:x}",
        "OFFSET(uts_namespace.name)=0",
        f"SYMBOL(_stext)={img_va:x}",
    ]
    if prb:
        lines += [
            f"SYMBOL(prb)={img_va + 0x80:x}",
            f"SYMBOL(printk_rb_static)={img_va + 0x200:x}",
            f"SYMBOL(clear_seq)={img_va + 0x300:x}",
        ]
        lines += _PRB_KEYS.splitlines()
    lines += [
        f"NUMBER(phys_base)={PHYS_BASE}",
        f"SYMBOL(init_top_pgt)={img_va + 0x1000:x}",
        "NUMBER(pgtable_l5_enabled)=0",
        f"KERNELOFFSET={img_va - START_KERNEL_MAP - 0x1000000:x}",
        "NUMBER(KERNEL_IMAGE_SIZE)=1073741824",
        "NUMBER(sme_mask)=0",
    ]
    if crash_time is not None:
        lines.append(f"CRASHTIME={crash_time}")
    return "\n".join(lines) + "\n"


def vmcoreinfo_arm64(release: str, crash_time: int | None) -> str:
    lines = [
        f"OSRELEASE={release}",
        "PAGESIZE=4096",
        f"SYMBOL(init_uts_ns)={A64_IMG_VA + 0x800:x}",
        "OFFSET(uts_namespace.name)=0",
        f"SYMBOL(_stext)={A64_IMG_VA + 0x10000:x}",
        f"SYMBOL(prb)={A64_IMG_VA + 0x80:x}",
        *_PRB_KEYS.splitlines(),
        "NUMBER(VA_BITS)=48",
        "NUMBER(TCR_EL1_T1SZ)=0x10",
        f"NUMBER(PHYS_OFFSET)=0x{A64_PHYS_OFFSET:x}",
        f"NUMBER(kimage_voffset)=0x{A64_KIMAGE_VOFFSET:x}",
        "KERNELOFFSET=0",
    ]
    if crash_time is not None:
        lines.append(f"CRASHTIME={crash_time}")
    return "\n".join(lines) + "\n"


def utsname(release: str, machine: str, nodename: str = "synth-host") -> bytes:
    fields = [b"Linux", nodename.encode(), release.encode(), b"#1 SMP PREEMPT_DYNAMIC", machine.encode(), b"(none)"]
    return b"".join(f.ljust(65, b"\0") for f in fields)


# --------------------------------------------------------------------------- the ring


@dataclass
class Ring:
    """Where the ring lives and its initial positions."""

    count_bits: int
    size_bits: int
    descs_va: int
    infos_va: int
    data_va: int
    tail_id: int
    head_id: int
    tail_lpos: int
    head_lpos: int


def _block_size(text_len: int, word: int = 8) -> int:
    return (word + text_len + word - 1) & ~(word - 1)


def lay_out_ring(
    msgs: list[Msg],
    base_va: int,
    count_bits: int,
    size_bits: int,
    *,
    first_id: int | None = None,
    first_lpos: int | None = None,
    wrap_exact: bool = False,
    word: int = 8,
) -> tuple[Ring, dict[int, bytes]]:
    """Place ``msgs`` as the kernel would after boot (ids/lpos from their initial values).

    ``first_id``/``first_lpos`` start elsewhere (e.g. just below 2^32, 2^62 or 2^64) to test
    overflow; ``wrap_exact`` wraps a block that ends exactly at the array end (pre-6.18 kernels).
    ``word`` 4 lays out a 32-bit kernel's ring (12-byte descriptors, 30-bit ids).

    Returns the ring description and ``{va: bytes}`` writes for desc, info and data arrays.
    """
    w = "Q" if word == 8 else "I"
    umask = (1 << (8 * word)) - 1
    id_bits = 8 * word - 2
    id_mask = (1 << id_bits) - 1
    dsz = 3 * word
    nd, nt = 1 << count_bits, 1 << size_bits
    descs_va, infos_va = base_va, base_va + nd * dsz
    data_va = (infos_va + nd * 88 + 63) & ~63
    desc = bytearray(nd * dsz)
    info = bytearray(nd * 88)
    data = bytearray(nt)
    if first_id is None:
        first_id = ((1 << 32) - nd - 1 + 1) & id_mask if word == 8 else ((1 << 30) - nd - 1 + 1) & id_mask
    lpos = (-nt) & umask if first_lpos is None else first_lpos & umask
    tail_lpos = lpos
    for i, m in enumerate(msgs):
        rid = (first_id + i) & id_mask
        idx = rid & (nd - 1)
        if m.lpos is not None:
            begin, nxt = m.lpos
        elif not m.text:
            begin, nxt = 3, 3
        else:
            size = _block_size(len(m.text), word)
            begin = lpos
            at = begin & (nt - 1)
            if at + size > nt or (wrap_exact and at + size == nt):  # does not fit before the end: wrap to 0
                struct.pack_into("<" + w, data, at, rid)
                start = 0
                nxt = ((begin | (nt - 1)) + 1 + size) & umask
            else:
                start = at
                nxt = (begin + size) & umask
            struct.pack_into("<" + w, data, start, rid)
            data[start + word : start + word + len(m.text)] = m.text
            lpos = nxt
        struct.pack_into("<" + w * 3, desc, idx * dsz, (m.state << id_bits) | rid, begin, nxt)
        o = idx * 88
        struct.pack_into("<QQHBBI", info, o, i, m.ts_nsec, len(m.text), 0, (m.level << 5) | 2, m.caller)
        info[o + 24 : o + 40] = m.subsystem.ljust(16, b"\0")[:16]
        info[o + 40 : o + 88] = m.device.ljust(48, b"\0")[:48]
    assert (lpos - tail_lpos) & umask <= nt, "messages do not fit the text ring"
    tail_id = (first_id - 1) & id_mask if len(msgs) < nd else first_id
    head_id = (first_id + len(msgs) - 1) & id_mask
    ring = Ring(count_bits, size_bits, descs_va, infos_va, data_va, tail_id, head_id, tail_lpos, lpos)
    return ring, {descs_va: bytes(desc), infos_va: bytes(info), data_va: bytes(data)}


def prb_struct(r: Ring) -> bytes:
    b = bytearray(88)
    struct.pack_into("<I", b, 0, r.count_bits)
    struct.pack_into("<QQQQ", b, 8, r.descs_va, r.infos_va, r.head_id, r.tail_id)
    struct.pack_into("<I", b, 48, r.size_bits)
    struct.pack_into("<QQQ", b, 56, r.data_va, r.head_lpos, r.tail_lpos)
    return bytes(b)


def _x86_page_tables(img: Segment, img_va: int, dm_va: int, dm_pa: int) -> None:
    """PML4 at image+0x1000, PUD at image+0x2000: a 1 GiB page mapping dm_va -> dm_pa."""
    pml4_pa = img.paddr + 0x1000
    pud_pa = img.paddr + 0x2000
    assert dm_pa % (1 << 30) == 0 and dm_va % (1 << 30) == 0
    img.put(img_va + 0x1000 + 8 * ((dm_va >> 39) & 511), struct.pack("<Q", pud_pa | 0x063))
    img.put(img_va + 0x2000 + 8 * ((dm_va >> 30) & 511), struct.pack("<Q", dm_pa | 0x0E3))
    del pml4_pa


def _bits_for(n: int, minimum: int) -> int:
    b = minimum
    while (1 << b) < n:
        b += 1
    return b


def build_machine(
    messages: Iterable[str | bytes | tuple[int, str | bytes] | Msg] = (),
    *,
    release: str = "6.1.0-56-amd64",
    crash_time: int | None = 1_720_000_000,
    arch: str = "x86_64",
    cpus: Sequence[tuple[int, int, int]] | None = None,
    size_bits: int | None = None,
    **ring_opts: int | bool,
) -> tuple[Machine, str]:
    """A crashed kernel whose lockless ring (linear map) holds ``messages``.

    ``cpus`` = [(pid, pc, sp), ...] for the PRSTATUS notes (default: two CPUs, pid 0 and 1234).
    ``ring_opts`` go to :func:`lay_out_ring` (first_id, first_lpos, wrap_exact).
    Returns (machine, expected vmcore-dmesg text).
    """
    msgs = as_msgs(messages)
    count_bits = _bits_for(len(msgs) + 1, 4)
    need = sum(_block_size(len(m.text)) for m in msgs if m.text)
    if size_bits is None:
        size_bits = _bits_for(need + 8, 9)
    x86 = arch == "x86_64"
    img_va, img_pa = (IMG_VA, IMG_PA) if x86 else (A64_IMG_VA, A64_IMG_PA)
    dm_va, dm_pa = (DM_VA, DM_PA) if x86 else (A64_DM_VA, A64_DM_PA)
    ring, writes = lay_out_ring(msgs, dm_va, count_bits, size_bits, **ring_opts)  # type: ignore[arg-type]
    dm_size = ((ring.data_va - dm_va) + (1 << size_bits) + PAGE - 1) & ~(PAGE - 1)
    img = Segment(img_pa, img_va, bytearray(0x4000))
    dm = Segment(dm_pa, dm_va, bytearray(dm_size))
    img.put(img_va + 0x80, struct.pack("<Q", img_va + 0x100))
    img.put(img_va + 0x100, prb_struct(ring))
    img.put(img_va + 0x800, utsname(release, arch))
    for va, blob in writes.items():
        dm.put(va, blob)
    if x86:
        _x86_page_tables(img, img_va, dm_va, dm_pa)
        info = vmcoreinfo_x86_64(release, img_va, crash_time)
    else:
        info = vmcoreinfo_arm64(release, crash_time)
    if cpus is None:
        cpus = [(0, img_va + 0xC3A1B2, img_va + 0x1403E38), (1234, img_va + 0x8A1236, 0xFFFFC90001A3FD88)]
    if x86:
        notes = [prstatus_x86_64(pid, pc, sp) for pid, pc, sp in cpus]
    else:
        notes = [prstatus_arm64(pid, pc, sp) for pid, pc, sp in cpus]
    return Machine(arch, [img, dm], info, notes, release), expected_dmesg(msgs)


# --------------------------------------------------------------------------- Vector A

VECTOR_A_EXPECTED = (
    "[    1.234567] line one\nline two\n"
    "[    2.000000] e1000e 0000:00:19.0 eth0: link up\n"
    "[    3.000000] tab\there and ctrl\\x01 byte\n"
    "[    5.000000] \n"
    "[    6.000000] filler A\n"
    "[    6.100000] filler B\n"
    "[    6.200000] filler C\n"
    "[    6.300000] filler D\n"
    "[    6.400000] filler E\n"
    "[   98.765432] sysrq: Trigger a crash\n"
    "[   98.765432] Kernel panic - not syncing: sysrq triggered crash\n"
    "[   98.765432] CPU: 1 UID: 0 PID: 1234 Comm: bash Not tainted 6.8.0-synth #1\n"
    "[   98.765432] RIP: 0010:sysrq_handle_crash+0x16/0x20\n"
    "[123456.789012] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---\n"
)

# idx, id, state, begin, next, seq, ts, level, caller, text, (subsystem, device)
_A_ROWS: list[tuple[int, int, int, int, int, int, int, int, int, bytes]] = [
    (0, 0x0, 2, 0x88, 0xB8, 16, 98765432400, 4, 0x4D2, b"RIP: 0010:sysrq_handle_crash+0x16/0x20"),
    (1, 0x1, 1, 0xB8, 0x100, 17, 123456789012345, 0, 0x4D2,
     b"---[ end Kernel panic - not syncing: sysrq triggered crash ]---"),
    (2, 0x2, 0, 0x1, 0x1, 18, 999, 0, 0, b"xxxxx"),
    (3, 0x3FFFFFFFFFFFFFF3, 3, 0xFFFFFFFFFFFFFED0, 0xFFFFFFFFFFFFFF00, 3, 12345678, 6, 1,
     b"x86/fpu: Supporting XSAVE feature 0x001"),
    (4, 0x3FFFFFFFFFFFFFF4, 2, 0xFFFFFFFFFFFFFF00, 0xFFFFFFFFFFFFFF20, 4, 1234567890, 4, 42, b"line one\nline two"),
    (5, 0x3FFFFFFFFFFFFFF5, 2, 0xFFFFFFFFFFFFFF20, 0xFFFFFFFFFFFFFF50, 5, 2000000000, 6, 0x80000002,
     b"e1000e 0000:00:19.0 eth0: link up"),
    (6, 0x3FFFFFFFFFFFFFF6, 2, 0xFFFFFFFFFFFFFF50, 0xFFFFFFFFFFFFFF70, 6, 3000000001, 6, 7,
     b"tab\there and ctrl\x01 byte"),
    (7, 0x3FFFFFFFFFFFFFF7, 2, 0x3, 0x3, 7, 5000000000, 6, 7, b""),
    (8, 0x3FFFFFFFFFFFFFF8, 2, 0xFFFFFFFFFFFFFF70, 0xFFFFFFFFFFFFFF80, 8, 6000000000, 6, 1, b"filler A"),
    (9, 0x3FFFFFFFFFFFFFF9, 2, 0xFFFFFFFFFFFFFF80, 0xFFFFFFFFFFFFFF90, 9, 6100000000, 6, 1, b"filler B"),
    (10, 0x3FFFFFFFFFFFFFFA, 2, 0xFFFFFFFFFFFFFF90, 0xFFFFFFFFFFFFFFA0, 10, 6200000000, 6, 1, b"filler C"),
    (11, 0x3FFFFFFFFFFFFFFB, 2, 0xFFFFFFFFFFFFFFA0, 0xFFFFFFFFFFFFFFB0, 11, 6300000000, 6, 1, b"filler D"),
    (12, 0x3FFFFFFFFFFFFFFC, 2, 0xFFFFFFFFFFFFFFB0, 0xFFFFFFFFFFFFFFC0, 12, 6400000000, 6, 1, b"filler E"),
    (13, 0x3FFFFFFFFFFFFFFD, 2, 0xFFFFFFFFFFFFFFC0, 0xFFFFFFFFFFFFFFE0, 13, 98765432109, 6, 0x4D2,
     b"sysrq: Trigger a crash"),
    (14, 0x3FFFFFFFFFFFFFFE, 2, 0xFFFFFFFFFFFFFFE0, 0x40, 14, 98765432200, 0, 0x4D2,
     b"Kernel panic - not syncing: sysrq triggered crash"),
    (15, 0x3FFFFFFFFFFFFFFF, 2, 0x40, 0x88, 15, 98765432300, 4, 0x4D2,
     b"CPU: 1 UID: 0 PID: 1234 Comm: bash Not tainted 6.8.0-synth #1"),
]


def vector_a(*, head_id: int = 0x2, tail_id: int = 0x3FFFFFFFFFFFFFF4) -> Machine:
    """Vector A of formats.md §7.1, byte for byte."""
    img = Segment(IMG_PA, IMG_VA, bytearray(0x4000))
    dm = Segment(DM_PA, DM_VA, bytearray(0x4000))
    img.put(IMG_VA + 0x80, struct.pack("<Q", IMG_VA + 0x100))
    ring = Ring(4, 9, DM_VA, DM_VA + 0x400, DM_VA + 0x1000, tail_id, head_id, 0xFFFFFFFFFFFFFF00, 0x100)
    img.put(IMG_VA + 0x100, prb_struct(ring))
    img.put(IMG_VA + 0x800, utsname("6.8.0-synth", "x86_64"))
    _x86_page_tables(img, IMG_VA, DM_VA, DM_PA)
    text = bytearray(512)
    for idx, rid, state, begin, nxt, seq, ts, lvl, caller, body in _A_ROWS:
        dm.put(DM_VA + idx * 24, struct.pack("<QQQ", (state << 62) | rid, begin, nxt))
        info = bytearray(88)
        struct.pack_into("<QQHBBI", info, 0, seq, ts, len(body), 0, (lvl << 5) | 2, caller)
        if idx == 5:
            info[24:40] = b"pci".ljust(16, b"\0")
            info[40:88] = b"+pci:0000:00:19.0".ljust(48, b"\0")
        dm.put(DM_VA + 0x400 + idx * 88, bytes(info))
        if begin & 1 or state in (0,):
            continue
        start = begin & 511
        if idx == 14:  # wrapped block: id at 0x1e0 and again at 0
            struct.pack_into("<Q", text, 0x1E0, rid)
            start = 0
        if idx == 3:
            start = 0xD0
        struct.pack_into("<Q", text, start, rid)
        text[start + 8 : start + 8 + len(body)] = body
    # idx3's stale bytes are overwritten by idx1 (laid out in table order above, idx1 first);
    # re-write idx1 so it wins, as in the spec.
    struct.pack_into("<Q", text, 0xB8, 0x1)
    text[0xC0 : 0xC0 + len(_A_ROWS[1][9])] = _A_ROWS[1][9]
    dm.put(DM_VA + 0x1000, bytes(text))
    vmcoreinfo = vmcoreinfo_x86_64("6.8.0-synth", IMG_VA, 1720000000)
    notes = [
        prstatus_x86_64(0, 0xFFFFFFFF9FC3A1B2, 0xFFFFFFFFA0403E38),
        prstatus_x86_64(1234, 0xFFFFFFFF9F8A1236, 0xFFFFC90001A3FD88),
    ]
    return Machine("x86_64", [img, dm], vmcoreinfo, notes, "6.8.0-synth")


def vector_e_log_buf(first: int = 0x80, nxt: int = 0x58) -> tuple[Machine, str]:
    """Vector E (§7.5): a 5.4-style structured log_buf in the image."""
    img = Segment(IMG_PA, IMG_VA, bytearray(0x4000))
    buf = bytearray(256)

    def rec(at: int, ln: int, ts: int, text: bytes, dict_: bytes = b"") -> None:
        struct.pack_into("<QHHHBB", buf, at, ts, ln, len(text), len(dict_), 0, (6 << 5) | 2)
        buf[at + 16 : at + 16 + len(text) + len(dict_)] = text + dict_

    rec(0x80, 44, 1000000, b"old record A", b"SUBSYSTEM=net")
    rec(0xAC, 28, 2500000000, b"old record B")
    rec(0x00, 56, 3000000000, b"record C is long enough to wrap around")
    rec(0x38, 32, 3999999999, b"newest record D")
    img.put(IMG_VA + 0x3000, bytes(buf))
    img.put(IMG_VA + 0x80, struct.pack("<Q", IMG_VA + 0x3000))  # log_buf pointer
    img.put(IMG_VA + 0x90, struct.pack("<III", 256, first, nxt))
    img.put(IMG_VA + 0x800, utsname("5.4.0-synth", "x86_64"))
    info = vmcoreinfo_x86_64("5.4.0-synth", IMG_VA, 1720000000, prb=False)
    info += (
        f"SYMBOL(log_buf)={IMG_VA + 0x80:x}\nSYMBOL(log_buf_len)={IMG_VA + 0x90:x}\n"
        f"SYMBOL(log_first_idx)={IMG_VA + 0x94:x}\nSYMBOL(log_next_idx)={IMG_VA + 0x98:x}\n"
        "SIZE(printk_log)=16\nOFFSET(printk_log.ts_nsec)=0\nOFFSET(printk_log.len)=8\n"
        "OFFSET(printk_log.text_len)=10\nOFFSET(printk_log.dict_len)=12\n"
    )
    expected = (
        "[    0.001000] old record A\n[    2.500000] old record B\n"
        "[    3.000000] record C is long enough to wrap around\n[    3.999999] newest record D\n"
    )
    if first == nxt:
        expected = ""
    return Machine("x86_64", [img], info, [prstatus_x86_64(1, IMG_VA + 0x1234, 0)], "5.4.0-synth"), expected


def legacy_log_buf(text: bytes = b"<6>Linux version 3.2.0-legacy\n<4>old style line\n<0>Kernel panic - not syncing: x\n",
                   length: int = 64) -> tuple[Machine, bytes]:
    """A pre-3.5 character ring (§4.9): ``text`` written circularly into ``length`` bytes.

    Returns the machine and the bytes the ring still holds (its last ``length`` bytes)."""
    img = Segment(IMG_PA, IMG_VA, bytearray(0x4000))
    buf = bytearray(length)
    for i, b in enumerate(text):
        buf[i % length] = b
    img.put(IMG_VA + 0x3000, bytes(buf))
    img.put(IMG_VA + 0x80, struct.pack("<Q", IMG_VA + 0x3000))
    img.put(IMG_VA + 0x90, struct.pack("<Ii", len(text), length))  # log_end, log_buf_len
    img.put(IMG_VA + 0x800, utsname("3.2.0-legacy", "x86_64"))
    info = vmcoreinfo_x86_64("3.2.0-legacy", IMG_VA, None, prb=False)
    info += f"SYMBOL(log_buf)={IMG_VA + 0x80:x}\nSYMBOL(log_end)={IMG_VA + 0x90:x}\nSYMBOL(log_buf_len)={IMG_VA + 0x94:x}\n"
    return Machine("x86_64", [img], info, [prstatus_x86_64(1, IMG_VA, 0)], "3.2.0-legacy"), text[-length:]


# --------------------------------------------------------------------------- ELF writer


def elf_bytes(
    m: Machine,
    *,
    no_vaddr: bool = False,
    drop_segments: Sequence[int] = (),
    filesz: dict[int, int] | None = None,
    incomplete: bool = False,
    big_hole: tuple[int, int] | None = None,
    duplicate_image: bool = False,
    vaddr_bias: int = 0,
) -> tuple[bytes, list[tuple[int, int]]]:
    """ELF64 core image of ``m``.

    ``filesz`` = {segment index: bytes kept} (p_filesz < p_memsz, filtered tail);
    ``big_hole`` = (paddr, size): an extra PT_LOAD whose data are all zeros, emitted as a
    hole (returned in the second value as (file offset, size) so a writer can leave it sparse).
    ``duplicate_image``: also map the image segment's PA through the linear map (as real dumps do).
    ``vaddr_bias``: add this to every p_vaddr (headers that lie about virtual addresses).
    """
    segs = [(s.paddr, s.vaddr, bytes(s.data)) for i, s in enumerate(m.segments) if i not in drop_segments]
    keep = {}
    j = 0
    for i in range(len(m.segments)):
        if i in drop_segments:
            continue
        if filesz and i in filesz:
            keep[j] = filesz[i]
        j += 1
    if duplicate_image and m.arch == "x86_64":
        s0 = m.segments[0]
        segs.append((s0.paddr, PAGE_OFFSET_BASE + s0.paddr, bytes(s0.data)))
    notes = m.note_bytes()
    nph = 1 + len(segs) + (1 if big_hole else 0)
    phoff = 64
    note_off = phoff + 56 * nph
    off = (note_off + len(notes) + PAGE - 1) & ~(PAGE - 1)
    phdrs = [struct.pack("<IIQQQQQQ", 4, 0, note_off, 0, 0, len(notes), len(notes), 0)]
    body: list[tuple[int, bytes]] = []
    holes: list[tuple[int, int]] = []
    for j, (pa, va, data) in enumerate(segs):
        fsz = keep.get(j, len(data))
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 7, off, 0 if no_vaddr else (va + vaddr_bias) & U64, pa, fsz,
                                 len(data), 0))
        body.append((off, data[:fsz]))
        off += fsz
    if big_hole:
        pa, size = big_hole
        va = 0 if no_vaddr or m.arch != "x86_64" else PAGE_OFFSET_BASE + pa
        phdrs.append(struct.pack("<IIQQQQQQ", 1, 7, off, va, pa, size, size, 0))
        holes.append((off, size))
        off += size
    ident = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    ehdr = ident + struct.pack(
        "<HHIQQQIHHHHHH", 4, m.e_machine, 1, 0, phoff, 0, 1 if incomplete else 0, 64, 56, nph, 0, 0, 0
    )
    out = bytearray(ehdr + b"".join(phdrs))
    out += b"\0" * (note_off - len(out)) + notes
    for o, data in body:
        out += b"\0" * (o - len(out))
        out += data
    return bytes(out), holes


def _write_private(path: Path, data: bytes, total: int | None = None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        if total is not None and total > len(data):
            os.ftruncate(fd, total)  # the rest is a sparse hole (reads as zeros)
    finally:
        os.close(fd)


def write_elf(path: str | os.PathLike[str], m: Machine, *, truncate_to: float | int | None = None, **opts: Any) -> int:
    """Write ``m`` as an ELF vmcore; returns the file size. ``truncate_to`` < 1 is a fraction."""
    data, holes = elf_bytes(m, **opts)  # type: ignore[arg-type]
    total = len(data) + sum(size for _, size in holes)
    if truncate_to is not None:
        limit = int(total * truncate_to) if isinstance(truncate_to, float) else int(truncate_to)
        _write_private(Path(path), data[:limit], min(total, limit))
        return min(total, limit)
    _write_private(Path(path), data, total)
    return total


def write_elf_vmcore(
    path: str | os.PathLike[str],
    messages: Iterable[str | bytes | tuple[int, str | bytes] | Msg] = ("Linux version 6.1.0-56-amd64",),
    *,
    release: str = "6.1.0-56-amd64",
    crash_time: int | None = 1_720_000_000,
    arch: str = "x86_64",
    sparse_size: int = 0,
    extra_zero_bytes: int = 0,
    no_vaddr: bool = False,
    truncate_to: float | int | None = None,
    incomplete: bool = False,
    cpus: Sequence[tuple[int, int, int]] | None = None,
    filesz: dict[int, int] | None = None,
    **ring_opts: int | bool,
) -> str:
    """Write an ELF vmcore holding ``messages``; return the expected ``vmcore-dmesg`` text.

    ``sparse_size``/``extra_zero_bytes``: add a PT_LOAD of that many bytes (rounded to pages)
    at PA 4 GiB+1 GiB, all zeros and left as a hole in the file — a big dump that costs no disk.
    ``truncate_to``: cut the file (a float < 1 is a fraction). ``filesz``: {segment: bytes kept}
    for p_filesz < p_memsz (segment 0 = kernel image, 1 = linear map holding the ring).
    ``ring_opts``: see :func:`lay_out_ring` (first_id, first_lpos, wrap_exact) and ``size_bits``.
    """
    m, expected = build_machine(messages, release=release, crash_time=crash_time, arch=arch, cpus=cpus,
                                **ring_opts)  # type: ignore[arg-type]
    big = max(sparse_size, extra_zero_bytes)
    hole = ((0x1_4000_0000 if arch == "x86_64" else 0x1_0000_0000), (big + PAGE - 1) & ~(PAGE - 1)) if big else None
    write_elf(path, m, truncate_to=truncate_to, no_vaddr=no_vaddr, incomplete=incomplete, big_hole=hole,
              filesz=filesz)
    return expected


# --------------------------------------------------------------------------- 32-bit ARM

ARM_PAGE_OFFSET = 0xC0000000
ARM_PHYS_OFFSET = 0x80000000
ARM_IMG_VA, ARM_DM_VA = 0xC0008000, 0xC1000000


def prstatus_arm(pid: int, pc: int, sp: int, cpsr: int = 0x600001D3) -> bytes:
    d = bytearray(148)
    struct.pack_into("<i", d, 24, pid)
    struct.pack_into("<I", d, 124, sp)
    struct.pack_into("<II", d, 132, pc, cpsr)
    return bytes(d)


def build_arm32_machine(
    messages: Iterable[str | bytes | tuple[int, str | bytes] | Msg], *, release: str = "6.1.0-32-armmp",
    **ring_opts: int | bool,
) -> tuple[Machine, str]:
    """A crashed 32-bit ARM kernel: 4-byte words, 30-bit ids, no arch keys in VMCOREINFO."""
    msgs = as_msgs(messages)
    count_bits = _bits_for(len(msgs) + 1, 4)
    size_bits = _bits_for(sum(_block_size(len(m.text), 4) for m in msgs if m.text) + 4, 9)
    ring, writes = lay_out_ring(msgs, ARM_DM_VA, count_bits, size_bits, word=4, **ring_opts)  # type: ignore[arg-type]
    img = Segment(ARM_IMG_VA - ARM_PAGE_OFFSET + ARM_PHYS_OFFSET, ARM_IMG_VA, bytearray(0x2000))
    dm_size = ((ring.data_va - ARM_DM_VA) + (1 << size_bits) + PAGE - 1) & ~(PAGE - 1)
    dm = Segment(ARM_DM_VA - ARM_PAGE_OFFSET + ARM_PHYS_OFFSET, ARM_DM_VA, bytearray(dm_size))
    for va, blob in writes.items():
        dm.put(va, blob)
    prb = bytearray(44)
    struct.pack_into("<IIIII", prb, 0, ring.count_bits, ring.descs_va, ring.infos_va, ring.head_id, ring.tail_id)
    struct.pack_into("<IIII", prb, 24, ring.size_bits, ring.data_va, ring.head_lpos, ring.tail_lpos)
    img.put(ARM_IMG_VA + 0x80, struct.pack("<I", ARM_IMG_VA + 0x100))
    img.put(ARM_IMG_VA + 0x100, bytes(prb))
    img.put(ARM_IMG_VA + 0x800, utsname(release, "armv7l"))
    keys = {
        "SIZE(printk_ringbuffer)": 44, "OFFSET(printk_ringbuffer.desc_ring)": 0,
        "OFFSET(printk_ringbuffer.text_data_ring)": 24, "OFFSET(printk_ringbuffer.fail)": 40,
        "OFFSET(prb_desc_ring.count_bits)": 0, "OFFSET(prb_desc_ring.descs)": 4, "OFFSET(prb_desc_ring.infos)": 8,
        "OFFSET(prb_desc_ring.head_id)": 12, "OFFSET(prb_desc_ring.tail_id)": 16,
        "SIZE(prb_desc)": 12, "OFFSET(prb_desc.state_var)": 0, "OFFSET(prb_desc.text_blk_lpos)": 4,
        "SIZE(prb_data_blk_lpos)": 8, "OFFSET(prb_data_blk_lpos.begin)": 0, "OFFSET(prb_data_blk_lpos.next)": 4,
        "OFFSET(prb_data_ring.size_bits)": 0, "OFFSET(prb_data_ring.data)": 4,
        "SIZE(atomic_long_t)": 4, "OFFSET(atomic_long_t.counter)": 0,
    }
    lines = [ln for ln in _PRB_KEYS.splitlines() if ln.split("=")[0] not in keys]
    lines += [f"{k}={v}" for k, v in keys.items()]
    info = "\n".join([f"OSRELEASE={release}", "PAGESIZE=4096", f"SYMBOL(init_uts_ns)={ARM_IMG_VA + 0x800:x}",
                      "OFFSET(uts_namespace.name)=0", f"SYMBOL(prb)={ARM_IMG_VA + 0x80:x}", *lines,
                      "CRASHTIME=1720000000"]) + "\n"
    notes = [prstatus_arm(0, 0xC0101234, 0xC1A01F00), prstatus_arm(321, 0xC0204567, 0xC2B03E00)]
    return Machine("arm", [img, dm], info, notes, release), expected_dmesg(msgs)


ARM_KALLSYMS_VA = 0xC0800000
ARM_KALLSYMS = [  # (name, address): the default arm32 PRSTATUS pcs fall in __crash_kexec and sysrq_handle_crash
    ("_stext", 0xC0100000), ("machine_crash_shutdown", 0xC0101000), ("__crash_kexec", 0xC0101200),
    ("crash_kexec", 0xC0101300), ("sysrq_handle_crash", 0xC0204540), ("__handle_sysrq", 0xC0204580),
    ("_etext", 0xC0300000),
]


def add_kallsyms(m: Machine, symbols: Sequence[tuple[str, int]] = ARM_KALLSYMS, *, va: int = ARM_KALLSYMS_VA,
                 base: int | None = None) -> Machine:
    """Give a 32-bit ARM machine the kernel's own symbol tables (formats.md §4.10), in a new
    lowmem segment at ``va``, and their SYMBOL() lines in VMCOREINFO.

    The layout of CONFIG_KALLSYMS_BASE_RELATIVE without absolute per-cpu (arm32): u32 offsets
    from ``kallsyms_relative_base``. Tokens are the identity (token i is byte i), so each name
    is stored as its own bytes after its type letter.
    """
    assert m.arch == "arm"
    syms = sorted(symbols, key=lambda s: s[1])
    base = syms[0][1] if base is None else base
    names = b"".join(bytes([len(b"T" + n.encode())]) + b"T" + n.encode() for n, _ in syms)
    table = bytearray(b"\0")  # token 0: the empty string
    index = [0]
    for i in range(1, 256):
        index.append(len(table))
        table += bytes([i]) + b"\0"
    parts = {
        "kallsyms_num_syms": struct.pack("<I", len(syms)),
        "kallsyms_relative_base": struct.pack("<I", base),
        "kallsyms_offsets": b"".join(struct.pack("<I", a - base) for _, a in syms),
        "kallsyms_token_index": struct.pack("<256H", *index),
        "kallsyms_token_table": bytes(table),
        "kallsyms_names": names,
    }
    blob = bytearray()
    where = {}
    for name, data in parts.items():
        where[name] = va + len(blob)
        blob += data
        blob += bytes(-len(blob) % 16)
    seg = Segment(va - ARM_PAGE_OFFSET + ARM_PHYS_OFFSET, va, bytearray(blob.ljust((len(blob) + PAGE - 1) & ~(PAGE - 1),
                                                                                     b"\0")))
    stext = dict(syms)["_stext"]
    lines = [f"SYMBOL({n})={a:x}" for n, a in where.items()] + [f"SYMBOL(_stext)={stext:x}"]
    return Machine(m.arch, [*m.segments, seg], m.vmcoreinfo + "\n".join(lines) + "\n", m.prstatus, m.release,
                   m.extra_notes)


def elf32_bytes(m: Machine, *, no_vaddr: bool = False) -> bytes:
    """ELF32 core image (32-bit ARM) of ``m``."""
    notes = m.note_bytes()
    nph = 1 + len(m.segments)
    note_off = 52 + 32 * nph
    off = (note_off + len(notes) + PAGE - 1) & ~(PAGE - 1)
    phdrs = [struct.pack("<IIIIIIII", 4, note_off, 0, 0, len(notes), len(notes), 0, 0)]
    body = []
    for s in m.segments:
        phdrs.append(struct.pack("<IIIIIIII", 1, off, 0 if no_vaddr else s.vaddr, s.paddr, len(s.data),
                                 len(s.data), 7, 0))
        body.append((off, bytes(s.data)))
        off += len(s.data)
    ehdr = b"\x7fELF\x01\x01\x01" + b"\0" * 9 + struct.pack("<HHIIIIIHHHHHH", 4, 40, 1, 0, 52, 0, 0, 52, 32, nph, 0, 0, 0)
    out = bytearray(ehdr + b"".join(phdrs))
    out += b"\0" * (note_off - len(out)) + notes
    for o, data in body:
        out += b"\0" * (o - len(out)) + data
    return bytes(out)


# --------------------------------------------------------------------------- kdump writer

_COMP_FLAG = {"none": 0, "zlib": 0x1, "lzo": 0x2, "snappy": 0x4, "zstd": 0x20}


def _compress(kind: str, page: bytes) -> bytes:
    if kind == "zlib":
        return zlib.compress(page)
    if kind == "lzo":
        import lzo  # type: ignore[import-not-found]

        return bytes(lzo.compress(page, 1, False))
    if kind == "snappy":
        import cramjam

        return bytes(cramjam.snappy.compress_raw(page))
    if kind == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor().compress(page))
    return page


def kdump_bytes(
    m: Machine,
    *,
    compression: str = "zlib",
    raw_pfns: Iterable[int] = (),
    excluded_pfns: Iterable[int] = (),
    incomplete_last: bool = False,
    force_flags: int | None = None,
) -> bytes:
    """makedumpfile kdump-compressed image of ``m`` (header version 6, block size 4096).

    ``raw_pfns`` are stored uncompressed (flags 0); ``excluded_pfns`` are present in the 1st
    bitmap only (filtered); ``incomplete_last`` zeroes the last descriptor and sets status 0x8.
    A 32-bit ARM machine gets the ILP32 header layout of an armhf makedumpfile (§5.2), with
    pfns counted from the start of RAM.
    """
    arm32 = m.arch == "arm"
    first_pfn = ARM_PHYS_OFFSET // PAGE if arm32 else 0
    pages: dict[int, bytes] = {}
    for s in m.segments:
        for o in range(0, len(s.data), PAGE):
            pages[(s.paddr + o) // PAGE - first_pfn] = bytes(s.data[o : o + PAGE]).ljust(PAGE, b"\0")
    excluded = set(excluded_pfns)
    raw = set(raw_pfns)
    max_mapnr = max(list(pages) + list(excluded)) + 1
    half_bytes = (max_mapnr + 7) // 8
    half_blocks = (half_bytes + PAGE - 1) // PAGE
    bm1 = bytearray(half_blocks * PAGE)
    bm2 = bytearray(half_blocks * PAGE)
    for pfn in list(pages) + list(excluded):
        bm1[pfn >> 3] |= 1 << (pfn & 7)
    for pfn in pages:
        bm2[pfn >> 3] |= 1 << (pfn & 7)
    notes = m.note_bytes()
    sub_len = 96 if arm32 else 104
    sub_size = (sub_len + len(notes) + PAGE - 1) // PAGE
    status = _COMP_FLAG[compression] | (0x8 if incomplete_last else 0)
    hdr = bytearray(464)
    hdr[0:8] = b"KDUMP   "
    struct.pack_into("<i", hdr, 8, 6)
    uts_machine = b"armv7l" if arm32 else m.arch.encode()
    for i, f in enumerate([b"Linux", b"synth-host", m.release.encode(), b"#1 SMP", uts_machine, b"(none)"]):
        hdr[12 + 65 * i : 12 + 65 * i + len(f)] = f
    base = 412 if arm32 else 424
    struct.pack_into("<II" if arm32 else "<qq", hdr, 404 if arm32 else 408, 1720000000, 0)
    struct.pack_into("<IiiII", hdr, base, status, PAGE, sub_size, 2 * half_blocks, min(max_mapnr, 0xFFFFFFFF))
    struct.pack_into("<i", hdr, base + 36, len(m.prstatus))
    note_off = PAGE + sub_len
    sub = bytearray(sub_len)
    info_len = len(m.vmcoreinfo.encode())
    info_off = note_off + m.vmcoreinfo_offset_in_notes()
    if arm32:
        struct.pack_into("<Iii", sub, 0, ARM_PHYS_OFFSET, 31, 0)
        struct.pack_into("<qI", sub, 24, info_off, info_len)
        struct.pack_into("<qI", sub, 40, note_off, len(notes))
        struct.pack_into("<QQQ", sub, 72, 0, max_mapnr, max_mapnr)
    else:
        phys_base = PHYS_BASE if m.arch == "x86_64" else A64_PHYS_OFFSET
        struct.pack_into("<Qii", sub, 0, phys_base, 31, 0)
        struct.pack_into("<QQQQ", sub, 32, info_off, info_len, note_off, len(notes))
        struct.pack_into("<QQQ", sub, 80, 0, max_mapnr, max_mapnr)
    out = bytearray(hdr.ljust(PAGE, b"\0"))
    out += (bytes(sub) + notes).ljust(sub_size * PAGE, b"\0")
    out += bm1 + bm2
    table_off = len(out)
    order = sorted(pages)
    data_off = table_off + 24 * (len(order) + 1)
    descs = bytearray()
    blobs = bytearray()
    zero_desc: tuple[int, int, int] | None = None
    for n, pfn in enumerate(order):
        page = pages[pfn]
        if page == bytes(PAGE) and zero_desc is not None:
            o, size, flags = zero_desc
        else:
            if pfn in raw or compression == "none":
                stored, flags = page, 0
            else:
                stored = _compress(compression, page)
                flags = _COMP_FLAG[compression]
                if len(stored) >= PAGE:
                    stored, flags = page, 0
            if force_flags is not None and flags:
                flags = force_flags
            o, size = data_off + len(blobs), len(stored)
            blobs += stored
            if page == bytes(PAGE):
                zero_desc = (o, size, flags)
        if incomplete_last and n == len(order) - 1:
            o, size, flags = 0, 0, 0
        descs += struct.pack("<qIIQ", o, size, flags, 0)
    descs = descs.ljust(data_off - table_off, b"\0")
    return bytes(out + descs + blobs)


def flat_bytes(image: bytes, *, chunk: int = 8192, shuffle: bool = True, rewrite_header: bool = True) -> bytes:
    """makedumpfile ``-F`` stream carrying ``image`` (out of order, header rewritten last)."""
    out = bytearray(b"makedumpfile".ljust(16, b"\0") + struct.pack(">qq", 1, 1)).ljust(4096, b"\0")
    pieces = [(o, image[o : o + chunk]) for o in range(0, len(image), chunk)]
    if shuffle and len(pieces) > 2:
        pieces = [pieces[0], *pieces[2:], pieces[1]]
    if rewrite_header:
        pieces.append((0, image[:464]))
    for o, data in pieces:
        out += struct.pack(">qq", o, len(data)) + data
    out += struct.pack(">qq", -1, -1)
    return bytes(out)


def write_kdump_vmcore(
    path: str | os.PathLike[str],
    messages: Iterable[str | bytes | tuple[int, str | bytes] | Msg] = ("Linux version 6.1.0-56-amd64",),
    *,
    compression: str = "zlib",
    flat: bool = False,
    release: str = "6.1.0-56-amd64",
    crash_time: int | None = 1_720_000_000,
    arch: str = "x86_64",
) -> str:
    """Write a kdump-compressed (or, with ``flat``, flattened) vmcore; return expected text."""
    m, expected = build_machine(messages, release=release, crash_time=crash_time, arch=arch)
    data = kdump_bytes(m, compression=compression)
    _write_private(Path(path), flat_bytes(data) if flat else data)
    return expected
