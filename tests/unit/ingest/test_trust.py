"""The spool is evidence: only what root (the ingest's own euid) wrote is trusted (issue 10 C).

A planted entry is refused and named; nothing from it reaches the store or the journal."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages

NOBODY = 65534
FORGED = "Kernel panic - not syncing: \x1b[31mforged by a user"


def forge(m: Machine, stamp: str = "20261127T173600") -> Path:
    d = m.capture(stamp=stamp, dmesg=f"[    1.0] {FORGED}\n")
    for p in [d, *d.iterdir()]:
        os.lchown(p, NOBODY, NOBODY)
    return d


def journal_text(m: Machine) -> str:
    return json.dumps(m.journal.events)


def test_capture_not_owned_by_root_is_refused_and_named(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    os.chmod(m.spool, 0o1777)  # apport's /var/crash
    d = forge(m)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    result = m.ingest()
    assert [r.name.split("-")[1] for r in m.records()] == ["pstore"]
    assert any(str(d) in p and "owned by uid 65534" in p for p in result.problems)
    assert "forged" not in journal_text(m)
    assert all("forged" not in p.read_text(errors="replace") for r in m.records() for p in r.rglob("*") if p.is_file())
    assert (d / "vmcore").exists()


def test_root_capture_holding_a_user_file_is_refused(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(dmesg=f"[    1.0] {FORGED}\n")
    os.lchown(d / "dmesg.txt", NOBODY, NOBODY)
    result = m.ingest()
    assert m.records() == []
    assert any(str(d / "dmesg.txt") in p for p in result.problems)
    assert "forged" not in journal_text(m)


def test_group_or_world_writable_capture_directory_is_refused(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    os.chmod(d, 0o777)
    result = m.ingest()
    assert m.records() == [] and d.exists()
    assert any(str(d) in p and "writable" in p for p in result.problems)


def test_world_writable_spool_without_sticky_bit_is_refused_whole(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    os.chmod(m.spool, 0o777)  # anyone may rename root's captures away or in
    result = m.ingest()
    assert m.records() == [] and d.exists()
    assert any(str(m.spool) in p and "sticky" in p for p in result.problems)


def test_root_capture_in_a_sticky_world_writable_spool_is_ingested(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    os.chmod(m.spool, 0o1777)
    d = m.capture()
    forge(m, stamp="20261127T173601")
    m.ingest()
    (rec,) = m.records()
    assert "-kdump-" in rec.name and not d.exists()


def private_spool(m: Machine) -> Path:
    from crashd.capture.spool import spool_path

    d = m.capture()
    spool = spool_path(m.spool)
    spool.mkdir(mode=0o700)
    return d.rename(spool / d.name)


def test_captures_in_crashds_private_spool_are_ingested(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    os.chmod(m.spool, 0o1777)  # apport's /var/crash around it
    d = private_spool(m)
    m.ingest()
    (rec,) = m.records()
    assert "-kdump-" in rec.name and not d.exists() and d.parent.is_dir()


def test_a_private_spool_that_is_not_private_is_not_read(tmp_path: Path) -> None:
    for n, spoil in enumerate((lambda p: os.chmod(p, 0o777), lambda p: os.lchown(p, NOBODY, NOBODY))):
        m = Machine(tmp_path / str(n))
        d = private_spool(m)
        spoil(d.parent)
        result = m.ingest()
        assert m.records() == [] and d.exists()
        assert any(str(d.parent) in p and "private" in p for p in result.problems)
