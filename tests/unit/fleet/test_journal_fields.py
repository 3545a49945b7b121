"""Every new record's journal entry carries what a fleet operator needs (issue 13, item 7)."""

from __future__ import annotations

from pathlib import Path

from crashd.core.journal import MESSAGE_IDS
from crashd.ingest.journal_fields import RECORD_MESSAGE_ID
from tests.unit.ingest.scenario import BOOT_CRASHED, PANIC, Machine

MID = "5c1b0d9f3e2a4c6b8d7e9f0a1b2c3d4e"


def _named(m: Machine, hostname: str = "web-07\n", machine_id: str = MID + "\n") -> None:
    m.paths.etc().mkdir(exist_ok=True)
    m.paths.etc("hostname").write_text(hostname)
    m.paths.etc("machine-id").write_text(machine_id)


def test_kdump_record_entry_has_the_fleet_fields(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    _named(m)
    m.capture()
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    ((event, _message, fields),) = m.journal.events
    assert event == "record_created" and MESSAGE_IDS[event] == RECORD_MESSAGE_ID
    assert fields["record"] == rec.name
    assert fields["signature"] == meta["signature"] and meta["signature"]
    assert fields["kernel"] == "6.1.0-56-amd64"
    assert fields["kind"] == "kdump"  # the record's kind; the panic's is PANIC_KIND
    assert fields["panic"] == PANIC and fields["panic_kind"] == meta["panic"]["kind"]
    assert fields["host"] == "web-07" and fields["machine_id"] == MID
    assert fields["boot_id"] == BOOT_CRASHED and fields["complete"] == "yes"
    assert fields["crash_time"] == meta["crash_time"]


def test_panic_line_is_printable_in_the_journal(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.capture(dmesg="<0>[    5.5] Kernel panic - not syncing: evil\x1b[2J\nCPU: 0 PID: 1 Comm: init\n")
    m.ingest()
    ((_e, _m, fields),) = m.journal.events
    assert "\x1b" not in str(fields["panic"]) and str(fields["panic"]).startswith("Kernel panic - not syncing: evil")


def test_unknown_host_is_left_out_not_invented(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    _named(m, hostname="(none)\n", machine_id="uninitialized\n")
    m.capture()
    m.ingest()
    ((_e, _m, fields),) = m.journal.events
    assert fields["host"] is None and fields["machine_id"] is None


def test_catalog_names_every_field() -> None:
    from crashd.core.hostinfo import HostIdentity
    from crashd.ingest.journal_fields import FIELDS, record_fields

    assert sorted(k.upper() for k in record_fields("r", {}, HostIdentity(None, None))) == sorted(FIELDS)
    catalog = (Path(__file__).resolve().parents[3] / "units/crashd.catalog").read_text()
    entry = catalog.split(f"-- {RECORD_MESSAGE_ID}", 1)[1].split("\n-- ", 1)[0]
    assert [f for f in FIELDS if f"CRASHD_{f}" not in entry] == []
