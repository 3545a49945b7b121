"""Small pure pieces: VMCOREINFO parsing, timestamps, escaping, note parsing, the text locator."""

from __future__ import annotations

import struct

import pytest

from crashd.vmcore.elf import parse_notes
from crashd.vmcore.printk import locate_text
from crashd.vmcore.record import LogRecord
from crashd.vmcore.render import escape, render, timestamp
from crashd.vmcore.vmcoreinfo import VmcoreInfo
from tests.vmcore_builder import note


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "[    0.000000]"),
        (999, "[    0.000000]"),
        (1_000_000_000, "[    1.000000]"),
        (1_234_567_890, "[    1.234567]"),
        (99_999_999_999_999, "[99999.999999]"),
        (123_456_789_012_345, "[123456.789012]"),
    ],
)
def test_timestamp_matches_kernel_print_time(ns: int, text: str) -> None:
    assert timestamp(ns) == text


def test_escape_keeps_printable_and_whitespace_and_hexes_the_rest() -> None:
    assert escape(b"\x00\x1b\x7f\x80\xe2\x82\xac") == "\\x00\\x1b\\x7f\\x80\\xe2\\x82\\xac"
    assert escape(b"a\tb\nc\rd\x0be\x0cf") == "a\tb\nc\rd\x0be\x0cf"


def test_vmcoreinfo_typed_values() -> None:
    info = VmcoreInfo(b"NUMBER(x)=-129\nNUMBER(y)=0x10\nSYMBOL(z)=ffffffff83042270\nK=1\nK=2\nnoequals\n")
    assert info.number("x") == 2**64 - 129
    assert info.number("x", signed=True) == -129
    assert info.number("y") == 16
    assert info.symbol("z") == 0xFFFFFFFF83042270
    assert info["K"] == "2"
    assert "noequals" not in info
    assert info.symbol("absent") is None


def test_vmcoreinfo_nul_padding_and_missing_final_newline_parse_identically() -> None:
    a = VmcoreInfo(b"OSRELEASE=6.1.0\nCRASHTIME=1720000000\n")
    b = VmcoreInfo(b"OSRELEASE=6.1.0\nCRASHTIME=1720000000\0\0\0\0")
    assert dict(a) == dict(b)
    assert b.crash_time == 1720000000


def test_notes_with_odd_desc_size_and_zero_header_in_the_middle() -> None:
    data = note(b"CORE", 1, b"abcde") + bytes(12) + note(b"VMCOREINFO", 0, b"OSRELEASE=x\n")
    notes = parse_notes(data)
    assert [(n.name, n.type, n.desc) for n in notes] == [(b"CORE", 1, b"abcde"), (b"VMCOREINFO", 0, b"OSRELEASE=x\n")]


def test_notes_stop_at_a_payload_running_past_the_segment() -> None:
    data = note(b"CORE", 1, b"x" * 8) + struct.pack("<III", 5, 1000, 1) + b"CORE\0\0\0\0"
    assert [n.name for n in parse_notes(data)] == [b"CORE"]


@pytest.mark.parametrize(
    ("begin", "nxt", "expected"),
    [
        (0xFFFFFFFFFFFFFE00, 0xFFFFFFFFFFFFFE48, (0x000, 0x48)),
        (0x240, 0x2A0, (0x040, 0x60)),
        (0xFFFFFFFFFFFFFFE0, 0x40, (0x000, 0x40)),
        (0xFFFFFFFFFFFFFFC0, 0x0, (0x1C0, 0x40)),
        (0xFFFFFFFFFFFFFFC0, 0x40, (0x000, 0x40)),
        (0x3, 0x3, "empty"),
        (0x1, 0x1, "lost"),
        (0xFFFFFFFFFFFFFE04, 0xFFFFFFFFFFFFFE48, None),
        (0x100, 0x800, None),
    ],
)
def test_text_block_locator_both_kernel_eras(begin: int, nxt: int, expected: object) -> None:
    assert locate_text(begin, nxt, 9, 8) == expected


def _rec(ts: int, raw: bytes) -> LogRecord:
    return LogRecord(0, ts, 6, 0, 0, 0, raw)


def test_render_styles_differ_only_on_continuation_lines() -> None:
    recs = [_rec(1_234_567_890, b"line one\nline two"), _rec(5_000_000_000, b"")]
    assert render(recs) == "[    1.234567] line one\nline two\n[    5.000000] \n"
    assert render(recs, "dmesg") == "[    1.234567] line one\n[    1.234567] line two\n[    5.000000] \n"


def test_caller_id_is_thread_or_cpu() -> None:
    assert LogRecord(0, 0, 0, 0, 0, 42, b"").caller_str == "T42"
    assert LogRecord(0, 0, 0, 0, 0, 0x80000002, b"").caller_str == "C2"


@pytest.mark.parametrize(
    ("line", "getter", "why"),
    [
        ("OFFSET(printk_info.seq)=-1", lambda i: i.offset("printk_info.seq"), "negative or too large"),
        ("SIZE(prb_desc)=99999999999", lambda i: i.size("prb_desc"), "negative or too large"),
        ("LENGTH(printk_info_device)=-48", lambda i: i.length("printk_info_device"), "negative or too large"),
        ("CRASHTIME=" + "1" * 29, lambda i: i.crash_time, "not a number of at most 20 digits"),
        ("CRASHTIME=99999999999999", lambda i: i.crash_time, "not a time between 1970 and 9999"),
        ("CRASHTIME=-5", lambda i: i.crash_time, "not a time between 1970 and 9999"),
        ("PAGESIZE=4097", lambda i: i.page_size, "not a power of two between 512 and 1 MiB"),
        ("PAGESIZE=0", lambda i: i.page_size, "not a power of two between 512 and 1 MiB"),
        ("NUMBER(VA_BITS)=" + "9" * 25, lambda i: i.number("VA_BITS"), "not a number of at most 20 digits"),
        ("NUMBER(x)=18446744073709551616", lambda i: i.number("x"), "beyond 64 bits"),
        ("SYMBOL(prb)=1ffffffffffffffff", lambda i: i.symbol("prb"), "not a hexadecimal address"),
        ("SYMBOL(prb)=zz", lambda i: i.symbol("prb"), "not a hexadecimal address"),
        ("KERNELOFFSET=-1", lambda i: i.kernel_offset, "not a hexadecimal address"),
        ("OSRELEASE=6.1\x1b[2J", lambda i: i.osrelease, "not a short printable word"),
    ],
)
def test_vmcoreinfo_values_are_checked_where_parsed(line: str, getter: object, why: str) -> None:
    info = VmcoreInfo(line.encode("utf-8", "surrogateescape") + b"\n")
    key = line.partition("=")[0]
    assert getter(info) is None  # type: ignore[operator]
    assert info.invalid == {key: why}
    assert info[key] == line.partition("=")[2]  # the raw text stays visible
    assert info.problems[0].startswith(f"VMCOREINFO {key}=") and info.problems[0].endswith(f"ignored: {why}")


def test_a_symbol_wider_than_the_word_is_refused_on_32_bit() -> None:
    info = VmcoreInfo(b"SYMBOL(prb)=1c0008080\nSYMBOL(ok)=c0008080\n", word_bits=32)
    assert info.symbol("prb") is None and info.symbol("ok") == 0xC0008080
    assert info.invalid == {"SYMBOL(prb)": "wider than 32 bits"}


def test_need_key_names_an_invalid_value() -> None:
    from crashd.core.errors import VmcoreError
    from crashd.vmcore.record import NoPrintkInfo, need_key

    info = VmcoreInfo(b"SIZE(prb_desc)=-24\n")
    with pytest.raises(VmcoreError, match=r"VMCOREINFO SIZE\(prb_desc\)='-24' is invalid \(negative or too large\)"):
        need_key(info, "size", "prb_desc")
    with pytest.raises(NoPrintkInfo, match=r"lacks SIZE\(printk_info\)"):
        need_key(info, "size", "printk_info")
