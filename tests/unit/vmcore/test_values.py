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
