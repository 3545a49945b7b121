"""One bad source must not block the others (issue 10 B): each source is ingested on its own,
each failure is its own ``ingest_failed`` event naming the source, and the failed source stays."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages


def failures(m: Machine) -> list[str]:
    return [msg for event, msg, _ in m.journal.events if event == "ingest_failed"]


def kinds(m: Machine) -> list[str]:
    return sorted(r.name.split("-")[1] for r in m.records())


def with_pstore(m: Machine) -> None:
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)


def test_directory_named_capture_json_fails_alone(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(write_info=False)
    (d / "capture.json").mkdir()
    good = m.capture(stamp="20261128T100000")
    with_pstore(m)
    result = m.ingest()
    assert kinds(m) == ["kdump", "pstore"]
    (failure,) = failures(m)
    assert str(d / "capture.json") in failure and "left in place" in failure
    assert result.problems and str(d) in result.problems[0]
    assert (d / "vmcore").is_file() and not good.exists()


def test_fifo_or_directory_named_vmcore_fails_alone(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    fifo = m.capture(stamp="20261127T173601")
    (fifo / "vmcore").unlink()
    os.mkfifo(fifo / "vmcore")
    folder = m.capture(stamp="20261127T173602")
    (folder / "vmcore").unlink()
    (folder / "vmcore").mkdir()
    with_pstore(m)
    m.ingest()
    assert kinds(m) == ["pstore"]
    assert len(failures(m)) == 2
    assert any(str(fifo / "vmcore") in f for f in failures(m))
    assert any(str(folder / "vmcore") in f for f in failures(m))
    assert fifo.is_dir() and folder.is_dir()


def test_crash_time_out_of_datetime_range_is_kept(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(crash_time=1_000_000_000_000)  # year 33658
    with_pstore(m)
    m.ingest()
    assert kinds(m) == ["kdump", "pstore"]
    (rec,) = [r for r in m.records() if "-kdump-" in r.name]
    meta = m.metadata(rec)
    assert meta["crash_time"] is None
    assert any("CRASHTIME" in w for w in meta["sources"]["vmcore"]["warnings"])
    assert rec.name.startswith("20261127T173600")  # the spool directory's stamp
    assert not d.exists()
    assert not [p for p in m.store.iterdir() if p.name.endswith(".incomplete")]


def test_negative_vmcoreinfo_offset_keeps_the_dump_with_a_warning(tmp_path: Path) -> None:
    from tests.vmcore_builder import build_machine, write_elf

    m = Machine(tmp_path)
    machine, _ = build_machine(sysrq_messages())
    machine.vmcoreinfo = machine.vmcoreinfo.replace(
        "OFFSET(printk_ringbuffer.desc_ring)=0", "OFFSET(printk_ringbuffer.desc_ring)=-1"
    )
    dump = tmp_path / "neg.vmcore"
    write_elf(dump, machine)
    m.capture(dump=dump)
    with_pstore(m)
    m.ingest()
    assert kinds(m) == ["kdump", "pstore"]
    (rec,) = [r for r in m.records() if "-kdump-" in r.name]
    assert any("dmesg unavailable" in w for w in m.metadata(rec)["sources"]["vmcore"]["warnings"])
    assert failures(m) == []


def test_spool_name_that_is_not_a_date(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(stamp="99999999T999999", crash_time=None)
    m.ingest()
    (rec,) = m.records()
    assert "-kdump-" in rec.name and not d.exists()


def test_bad_pstore_entries_do_not_block_the_good_one(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    with_pstore(m)
    os.mkfifo(m.paths.pstore / "dmesg-ramoops-1")
    (m.paths.pstore / "dmesg-ramoops-2").symlink_to("/etc/shadow")
    with open(m.paths.pstore / "dmesg-ramoops-3", "wb") as fh:
        fh.truncate(65 << 20)  # more than any real record
    m.ingest()
    assert kinds(m) == ["pstore"]
    named = " ".join(failures(m))
    for n in ("dmesg-ramoops-1", "dmesg-ramoops-2", "dmesg-ramoops-3"):
        assert n in named
    assert (m.paths.pstore / "dmesg-ramoops-2").is_symlink()


def test_planted_ledger_entry_never_deletes_an_unstored_capture(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    dump = (d / "vmcore").read_bytes()
    (m.store / ".ledger").mkdir(parents=True)
    (m.store / ".ledger" / f"spool-{d.name}").touch()
    m.ingest()
    (rec,) = m.records()
    assert (rec / "vmcore").read_bytes() == dump


def test_second_capture_under_a_stored_name_is_stored_too(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(boot="unknown0" + "0" * 24, write_info=False, dmesg="first\n")
    m.ingest()
    (first,) = m.records()
    # the same second, the crashed boot unknown again: the same spool name
    d = m.capture(boot="unknown0" + "0" * 24, write_info=False, dmesg="second\n", crash_time=1_720_000_100)
    dump = (d / "vmcore").read_bytes()
    m.ingest()
    (second,) = [r for r in m.records() if r != first]
    assert (second / "vmcore").read_bytes() == dump
    assert (second / "dmesg.txt").read_text() == "second\n"


def test_killed_after_publish_still_finishes_the_cleanup(tmp_path: Path) -> None:
    import pytest

    m = Machine(tmp_path)
    d = m.capture()

    class Killed(BaseException):  # as a kill: not a failure the run could report
        pass

    def kill(step: str) -> None:
        if step == "marked":
            raise Killed

    with pytest.raises(Killed):
        m.ingest(checkpoint=kill)
    assert d.exists()
    assert m.ingest().created == []
    assert not d.exists() and len(m.records()) == 1


def test_record_failure_is_journaled_per_source_with_its_name(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    (d / "capture.json").unlink()
    (d / "capture.json").mkdir()
    m.ingest()
    (_event, message, fields) = next(e for e in m.journal.events if e[0] == "ingest_failed")
    assert fields["source"] == str(d)
    assert json.dumps(fields)  # plain values only


def test_a_broken_vmcore_reader_fails_loudly(tmp_path: Path, monkeypatch: object) -> None:
    """An in-tree module that cannot be imported is a broken install, not an optional feature."""
    import sys

    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    m = Machine(tmp_path)
    d = m.capture()
    with_pstore(m)
    monkeypatch.setitem(sys.modules, "crashd.vmcore", None)  # what a syntax error in the reader gives
    result = m.ingest()
    assert kinds(m) == ["pstore"]
    assert any(str(d) in p and "crashd.vmcore" in p for p in result.problems)
    assert (d / "vmcore").exists()
