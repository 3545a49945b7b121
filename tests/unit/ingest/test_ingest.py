"""The ingest orchestrator against fake roots: linking, completeness, idempotence, safety."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crashd.core.errors import UnsafePathError
from tests.unit.ingest.scenario import (
    BOOT_CRASHED,
    PANIC,
    Machine,
    pstore_text,
    sysrq_messages,
)


def test_pstore_only_record(tmp_path: Path, ref_pstore: Path) -> None:
    m = Machine(tmp_path)
    raw = (ref_pstore / "oops-then-panic" / "dmesg-ramoops-0").read_bytes()
    m.pstore("dmesg-ramoops-0", raw)
    result = m.ingest()
    (rec,) = m.records()
    assert result.created == [rec.name]
    assert "-pstore-" in rec.name
    meta = m.metadata(rec)
    assert meta["kind"] == "pstore" and meta["complete"] is True
    assert meta["panic"]["kind"] == "oops"
    assert meta["panic"]["message"] == "BUG: kernel NULL pointer dereference, address: 0000000000000000"
    assert meta["kernel"]["release"] == "6.1.0-56-amd64"
    assert meta["crashed_boot_id"] is None and meta["capture"] is None
    assert meta["sources"]["vmcore"] is None
    assert meta["sources"]["pstore"][0]["name"] == "dmesg-ramoops-0"
    assert meta["sources"]["pstore"][0]["reason"] == "Oops"
    assert (rec / "pstore" / "dmesg-ramoops-0").read_bytes() == raw
    assert meta["files"]["pstore/dmesg-ramoops-0"]["size"] == len(raw)
    assert not (rec / "dmesg.txt").read_text().startswith("<")
    assert not (m.paths.pstore / "dmesg-ramoops-0").exists()  # unlinked after the durable copy
    assert [e[0] for e in m.journal.events] == ["record_created"]
    event, message, fields = m.journal.events[0]
    assert message == (
        f"Kernel crash in the previous boot recorded as {rec.name}: {meta['panic']['message']}"
        f" (pstore, signature {meta['signature']})"
    )
    assert fields["record"] == rec.name and fields["signature"] == meta["signature"]
    assert fields["kernel"] == "6.1.0-56-amd64"


def test_modes_and_keys_sorted(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.capture()
    m.ingest()
    (rec,) = m.records()
    assert stat.S_IMODE(os.stat(m.store).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(rec).st_mode) == 0o700
    for p in rec.rglob("*"):
        assert stat.S_IMODE(os.lstat(p).st_mode) == (0o700 if p.is_dir() else 0o600), p
    text = (rec / "metadata.json").read_text()
    meta = m.metadata(rec)
    assert list(meta) == sorted(meta)
    assert text.index('"capture"') < text.index('"schema"')


def test_capture_becomes_kdump_record_and_spool_is_emptied(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    m.ingest()
    (rec,) = m.records()
    assert "-kdump-" in rec.name and rec.name.startswith("20240703T")  # CRASHTIME 1720000000
    meta = m.metadata(rec)
    assert meta["complete"] is True
    assert meta["crashed_boot_id"] == BOOT_CRASHED
    assert meta["crash_time"] == "2024-07-03T09:46:40Z"
    assert meta["kernel"]["release"] == "6.1.0-56-amd64" and meta["kernel"]["machine"] == "x86_64"
    assert meta["panic"]["kind"] == "sysrq" and meta["panic"]["message"] == PANIC
    assert meta["sources"]["vmcore"]["format"] == "elf"
    assert meta["capture"]["collector"] == "copy"
    assert set(meta["files"]) == {"capture.json", "dmesg.txt", "vmcore"}
    assert "sysrq: Trigger a crash" in (rec / "dmesg.txt").read_text()  # derived from the dump
    assert not d.exists()


def test_same_boot_links_pstore_and_vmcore(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.last_boot(BOOT_CRASHED)
    m.capture(messages=sysrq_messages(5.5))
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(7.25)))  # another uptime: no proof by text
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert meta["kind"] == "kdump+pstore" and "-kdump+pstore-" in rec.name
    assert (rec / "pstore" / "dmesg-ramoops-0").exists() and (rec / "vmcore").exists()


def test_other_boot_and_other_time_stay_apart(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.last_boot("22222222222222222222222222222222")
    m.capture(messages=sysrq_messages(5.5))
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(7.25)), mtime=1_000_000_000)
    m.ingest()
    assert sorted(r.name.split("-")[1] for r in m.records()) == ["kdump", "pstore"]


def test_identical_log_line_links_without_boot_note(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.capture(messages=sysrq_messages(5.5))
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.5)), mtime=1_000_000_000)
    m.ingest()
    (rec,) = m.records()
    assert m.metadata(rec)["kind"] == "kdump+pstore"


def test_close_crash_time_links(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.capture(messages=sysrq_messages(5.5), crash_time=1_720_000_000)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(6.0)), mtime=1_720_000_030)
    m.ingest()
    assert [m.metadata(r)["kind"] for r in m.records()] == ["kdump+pstore"]


def test_contradicting_crash_lines_never_link(tmp_path: Path, ref_pstore: Path) -> None:
    m = Machine(tmp_path)
    m.last_boot(BOOT_CRASHED)
    m.capture(messages=sysrq_messages(5.5))
    # the same boot's earlier, non-fatal oops: its own record
    m.pstore("dmesg-ramoops-0", (ref_pstore / "oops-then-panic" / "dmesg-ramoops-0").read_bytes())
    m.pstore("dmesg-ramoops-1", (ref_pstore / "oops-then-panic" / "dmesg-ramoops-1").read_bytes())
    m.ingest()
    kinds = sorted((m.metadata(r)["kind"], m.metadata(r)["panic"]["kind"]) for r in m.records())
    assert kinds == [("kdump+pstore", "sysrq"), ("pstore", "oops")]


def test_interrupted_capture_is_kept_incomplete_without_invented_values(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(incomplete=True, raw_info=b'{"schema": 1, "collector": "co')
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert meta["complete"] is False
    assert meta["capture"] is None and meta["crashed_boot_id"] is None
    assert any("incomplete" in w for w in meta["sources"]["vmcore"]["warnings"])
    assert (rec / "capture.json").read_bytes() == b'{"schema": 1, "collector": "co'  # kept as found
    assert meta["panic"]["message"] == PANIC  # what could be recovered
    assert not d.exists()


def test_missing_capture_json_and_truncated_dump(tmp_path: Path) -> None:
    from tests.vmcore_builder import write_elf_vmcore

    m = Machine(tmp_path)
    d = m.capture(write_info=False)
    write_elf_vmcore(d / "vmcore", sysrq_messages(), truncate_to=0.5)
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert meta["complete"] is False and meta["capture"] is None
    assert meta["sources"]["vmcore"]["warnings"]


def test_foreign_dump_is_kept_with_the_warning(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(dmesg="[    1.0] Kernel panic - not syncing: from the spool\n")
    (d / "vmcore").write_bytes(b"not a dump at all" * 10)
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert (rec / "vmcore").read_bytes() == b"not a dump at all" * 10
    assert meta["complete"] is False
    assert any("not a vmcore" in w for w in meta["sources"]["vmcore"]["warnings"])
    assert meta["panic"]["message"] == "Kernel panic - not syncing: from the spool"


def test_rerun_creates_nothing_new(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[ingest]\nunlink_pstore = no\n")
    m.capture()
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    first = m.ingest()
    assert len(first.created) == 2
    assert (m.paths.pstore / "dmesg-ramoops-0").exists()  # unlink_pstore = no
    second = m.ingest()
    assert second.created == [] and len(m.records()) == 2


def test_pruned_record_is_not_ingested_again(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[ingest]\nunlink_pstore = no\n")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)))
    m.ingest()
    from crashd.ingest.store import remove_record

    remove_record(m.records()[0])
    assert m.ingest().created == []


def test_systemd_pstore_archive_is_read_not_deleted(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    arch = m.paths.systemd_pstore_archive / "1720000000" / "001"
    arch.mkdir(parents=True)
    (arch / "dmesg-efi-172000000001001").write_bytes(b"Panic#1 Part1\n<0>[ 3.0] Kernel panic - not syncing: newest\n")
    (arch / "dmesg-efi-172000000002001").write_bytes(b"Panic#1 Part2\n<6>[ 2.0] older\n")
    (arch / "dmesg.txt").write_text("systemd's own join\n")
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert meta["sources"]["pstore"][0]["part_count"] == 2
    assert meta["crash_time"] == "2024-07-03T09:46:40Z"
    assert (arch / "dmesg-efi-172000000001001").exists()
    assert m.ingest().created == []


def test_pstore_disabled(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[ingest]\npstore = no\n")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages()))
    assert m.ingest().created == []
    assert (m.paths.pstore / "dmesg-ramoops-0").exists()


def test_symlink_planted_in_spool_is_refused_by_name(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    (d / "vmcore").unlink()
    (d / "vmcore").symlink_to("/etc/shadow")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    result = m.ingest()
    assert str(d / "vmcore") in result.problems[0]
    assert [e[0] for e in m.journal.events] == ["ingest_failed", "record_created"]
    # the rest was still stored; the planted link is left alone
    assert [r.name.split("-")[1] for r in m.records()] == ["pstore"]
    assert (d / "vmcore").is_symlink()


def test_symlink_in_place_of_the_store_is_refused(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    m.store.parent.mkdir(parents=True, exist_ok=True)
    m.store.symlink_to(elsewhere)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages()))
    with pytest.raises(UnsafePathError, match="crash"):
        m.ingest()
    assert (m.paths.pstore / "dmesg-ramoops-0").exists()
    assert list(elsewhere.iterdir()) == []


def test_symlink_planted_in_a_staging_directory_is_refused(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture()
    from crashd.ingest.sources import find_captures

    (cap,) = find_captures(m.spool, lambda path, exc: None)
    staging = m.store / f".{cap.mark}.incomplete"
    staging.mkdir(parents=True)
    (staging / "vmcore").symlink_to(tmp_path / "victim")
    (problem,) = m.ingest().problems
    assert "vmcore" in problem and "symlink" in problem
    assert m.records() == []
    assert (d / "vmcore").exists()
    assert not (tmp_path / "victim").exists()


def test_ingest_prunes_old_records_but_never_the_new_one(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[retention]\nmax_records = 1\n")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.0)), mtime=1_700_000_000)
    (first,) = m.ingest().created
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(6.0) + [(7_000_000_000, "extra")]), mtime=1_700_086_400)
    m.pstore("dmesg-erst-5", b"Oops#1 Part1\n<4>[ 1.0] kernel BUG at mm/x.c:1!\n", mtime=1_700_086_400)
    result = m.ingest()
    # both new records stay; the old one is the first of its signature, so it stays too
    assert len(result.created) == 2 and result.removed == []
    assert len(m.records()) == 3
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(8.0) + [(9_000_000_000, "x")]), mtime=1_700_186_400)
    result = m.ingest()
    # now the middle sysrq record is neither the first nor the latest of its signature
    assert len(result.removed) == 1 and result.removed[0] not in (first, *result.created)
    assert [e[0] for e in m.journal.events].count("record_removed") == 1


def test_empty_spool_dmesg_is_replaced_by_the_dumps_log(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.capture(dmesg="")
    m.ingest()
    (rec,) = m.records()
    assert PANIC in (rec / "dmesg.txt").read_text()
    assert m.metadata(rec)["panic"]["message"] == PANIC


def test_pstore_fills_in_when_the_dump_has_no_log(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.last_boot(BOOT_CRASHED)
    d = m.capture()
    (d / "vmcore").write_bytes(b"\0" * 4096)  # a dump cut to nothing readable
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(6.0)))
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert meta["kind"] == "kdump+pstore"
    assert meta["panic"]["message"] == PANIC and meta["complete"] is False


def test_capture_of_an_unknown_boot_and_a_partial_dump_name(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(boot="unknown0" + "0" * 24, dump_name="vmcore.incomplete", incomplete=True, write_info=False)
    assert d.name.endswith("-unknown0.incomplete")
    data = (d / "vmcore.incomplete").read_bytes()
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    assert (rec / "vmcore.partial").read_bytes() == data
    assert meta["sources"]["vmcore"]["file"] == "vmcore.partial" and meta["complete"] is False
    assert "vmcore.partial" in meta["files"]
    assert not d.exists()


def test_compressed_multi_part_efi_dump_is_stored_raw_and_read_joined(tmp_path: Path) -> None:
    import zlib

    m = Machine(tmp_path)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    oldest = c.compress(b"Panic#1 Part2\n<6>[ 1.0] Linux version 6.9.0-efi (x) #7 SMP\n<6>[ 2.0] older\n") + c.flush()
    m.pstore("dmesg-efi_pstore-172000000002001.enc.z", oldest)
    m.pstore("dmesg-efi_pstore-172000000001001", b"Panic#1 Part1\n<0>[ 3.0] Kernel panic - not syncing: newest\n")
    m.ingest()
    (rec,) = m.records()
    meta = m.metadata(rec)
    (entry,) = meta["sources"]["pstore"]
    assert (entry["backend"], entry["reason"], entry["part_count"]) == ("efi_pstore", "Panic", 2)
    assert entry["compression"] == ["deflate", "none"]
    assert (rec / "pstore" / "dmesg-efi_pstore-172000000002001.enc.z").read_bytes() == oldest
    assert (rec / "dmesg.txt").read_text().splitlines()[-1] == "[ 3.0] Kernel panic - not syncing: newest"
    assert meta["kernel"]["release"] == "6.9.0-efi" and meta["kernel"]["version"] == "#7 SMP"
    assert meta["panic"]["message"] == "Kernel panic - not syncing: newest"
