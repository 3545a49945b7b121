"""Scenario a (kdump) and d (downtime and size): crashd enabled with nothing configured arms the
capture kernel; sysrq-c; the capture kernel boots crashd-capture.target and saves; the machine
reboots by itself; crashd-ingest turns the dump into a complete kdump record with the panic line,
and the journal says so."""

from __future__ import annotations

import json

import pytest

from tests.vm.lab import RECORD_CREATED_ID, Lab, Outcome, crash_and_capture, start_kdump
from tests.vm.timeline import kdump_cycle

pytestmark = pytest.mark.vm


def _assert_one_complete_kdump_record(outcome: Outcome, release: str) -> str:
    records = outcome.records()
    assert len(records) == 1, f"crashd list --json: {records}\n{outcome.explain()}"
    row = records[0]
    assert row["complete"] is True, row
    assert "kdump" in (row["kind"] or ""), row
    assert row["kernel"] == release, row
    (record,) = [d for d in outcome.record_dirs() if d.name == row["name"]]
    meta = json.loads((record / "metadata.json").read_text())
    assert meta["complete"] is True
    assert meta["kernel"]["release"] == release
    assert "sysrq triggered crash" in (record / "dmesg.txt").read_text(errors="replace")
    assert meta["sources"]["vmcore"], meta["sources"]
    created = outcome.journal_entries("record-created.json")
    assert created, f"journalctl MESSAGE_ID={RECORD_CREATED_ID} printed nothing"
    assert any(row["name"] in json.dumps(e) for e in created), created
    return str(row["name"])


def _kdump_scenario(lab: Lab, name: str, crashkernel: str) -> None:
    run = start_kdump(lab, name, crashkernel)
    with run.guest:
        capture = crash_and_capture(run)
        run.expect(r"^VMTEST: boot 2 ", 600, after=capture)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    _assert_one_complete_kdump_record(outcome, run.img.release)
    cycle = kdump_cycle(run.guest.lines)
    assert cycle is not None and cycle.capture_seconds is not None
    lab.figures.append(f"{name} (crashkernel={crashkernel}): {cycle.describe()}")
    lab.discard(name)


def test_kdump_crash_is_captured_and_ingested(lab: Lab) -> None:
    _kdump_scenario(lab, "kdump", "256M")


@pytest.mark.parametrize("crashkernel", ["128M", "96M"])
def test_kdump_in_a_small_reservation(lab: Lab, crashkernel: str) -> None:
    _kdump_scenario(lab, f"kdump-{crashkernel}", crashkernel)
