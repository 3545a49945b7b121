"""Scenario (issue 10 G): no crash goes unnoticed. crashkernel=96M is too small for Debian's
capture kernel and its initramfs (it runs out of memory before crashd starts: README, and
test_kdump's 96M case); sysrq-c; the capture kernel dies and the machine resets; the next boot
finds its previous boot armed, not shut down, with no capture and no pstore record, and makes
one ``unclean-reset`` record that says the capture kernel did not run. That boot's own clean
poweroff is noted as a shutdown in the boot ledger (so it will never make a record)."""

from __future__ import annotations

import json

import pytest

from tests.vm.image import read_tree
from tests.vm.lab import Lab, crash_and_capture, start_kdump
from tests.vm.timeline import find

pytestmark = pytest.mark.vm


def test_capture_kernel_out_of_memory_becomes_one_unclean_reset_record(lab: Lab) -> None:
    name = "unclean-96M"
    run = start_kdump(lab, name, "96M")
    with run.guest:
        capture = crash_and_capture(run)
        run.expect(r"^VMTEST: boot 2 ", 600, after=capture)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    lines = run.guest.lines
    boot2 = find(lines, r"^VMTEST: boot 2 ", capture) or len(lines)
    assert find(lines, r"crashd save:", capture, boot2) is None, (
        "the capture kernel ran crashd save at 96M: this scenario needs a reservation it cannot run in")
    records = outcome.records()
    assert [r["kind"] for r in records] == ["unclean-reset"], f"crashd list --json: {records}\n{outcome.explain()}"
    (record,) = [d for d in outcome.record_dirs() if d.name == records[0]["name"]]
    meta = json.loads((record / "metadata.json").read_text())
    crashed = (outcome.driver / "boots").read_text().split()[0].replace("-", "")
    assert meta["crashed_boot_id"] == crashed
    assert meta["kernel"]["release"] == run.img.release
    assert meta["sources"]["vmcore"] is None and meta["sources"]["pstore"] == []
    unclean = meta["sources"]["unclean"]
    assert "the capture kernel did not run" in unclean["summary"], unclean
    assert unclean["reserved"] and unclean["reserved"] <= 96 << 20, unclean
    # the image keeps a persistent journal: the crashed boot's last lines are in the record
    assert unclean["journal"] == "journal.txt", unclean
    assert (record / "journal.txt").read_text(errors="replace").strip(), "journal.txt is empty"
    created = outcome.journal_entries("record-created.json")
    assert any(record.name in json.dumps(e) for e in created), created
    # boot 2 powered off cleanly: if its daemon had armed before that, the ledger says "shutdown"
    ledger = read_tree(run.img.disk, "/var/lib/crashd", outcome.out / "crashd-state") / "boots"
    entries = {p.stem: json.loads(p.read_text()) for p in ledger.glob("*.json")}
    assert entries[crashed]["ended"] is None and entries[crashed]["handled"]["record"] == record.name
    later = [e for b, e in entries.items() if b != crashed]
    for entry in later:
        assert entry["ended"] and entry["ended"]["how"] == "shutdown", entry
    lab.figures.append(f"{name}: {record.name}; readiness then: {unclean['readiness']}; "
                       f"reasons: {unclean['likely_reasons'][0]}; boot 2 ledger: "
                       f"{[e['ended'] for e in later] or 'not armed before poweroff'}")
    lab.discard(name)
