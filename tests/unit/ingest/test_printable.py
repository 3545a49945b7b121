"""What the crashed kernel wrote reaches the journal and the terminal without escapes (issue 10 E)."""

from __future__ import annotations

from pathlib import Path

from crashd.ingest.printable import printable
from tests.unit.ingest.scenario import PANIC, Machine, pstore_text, sysrq_messages


def test_printable_strips_sequences_and_shows_controls() -> None:
    assert printable("a\x1b[2J\x1b[31mred\x1b[0m b") == "ared b"
    assert printable("title\x1b]0;owned\x07 x") == "title x"
    assert printable("line\nforged: entry") == "line\\x0aforged: entry"
    assert printable("bell\x07 \x9b31m c1") == "bell\\x07  c1"
    assert printable("x" * 600).endswith("…") and len(printable("x" * 600)) == 512
    assert printable(None) == ""


def test_record_created_says_what_happened(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.capture()
    m.ingest()
    (rec,) = m.records()
    ((event, message, fields),) = m.journal.events
    sig = m.metadata(rec)["signature"]
    assert event == "record_created"
    assert message == f"Kernel crash in the previous boot recorded as {rec.name}: {PANIC} (kdump, signature {sig})"
    assert fields["record"] == rec.name


def test_escape_sequences_from_the_crashed_kernel_never_reach_the_journal(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    hostile = [(ns, t.replace("sysrq triggered crash", "\x1b]0;pwned\x07\x1b[2Jsysrq\ntriggered"))
               for ns, t in sysrq_messages(9.0)]
    m.pstore("dmesg-ramoops-0", pstore_text(hostile), mtime=1_000_000_000)
    m.ingest()
    ((_event, message, fields),) = m.journal.events
    assert "\x1b" not in message and "\n" not in message and "pwned" not in message
    assert all("\x1b" not in str(v) for v in fields.values())
