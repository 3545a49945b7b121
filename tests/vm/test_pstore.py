"""Scenario b (pstore): no crashkernel, ramoops in reserved RAM; a panic, a warm reset (guest RAM
survives QEMU's reset); after boot crashd-ingest has made a pstore record holding the panic line and
removed the pstore entry.

The spool also holds a bad capture (a directory named ``capture.json``, as issue 10 B saw block every
record): the pstore crash must still become its record, the bad capture must be named in an
``ingest_failed`` journal entry and left in place for the next run."""

from __future__ import annotations

import json

import pytest

from tests.vm.image import read_file
from tests.vm.lab import RAMOOPS_CMDLINE, Lab, Run

pytestmark = pytest.mark.vm

BAD_CAPTURE = "/var/crash/crashd/20260101T000000-deadbeef"
BAD_SPOOL_FILE = f"{BAD_CAPTURE}/capture.json/planted"  # capture.json is a directory


def test_pstore_panic_becomes_a_record_and_leaves_pstore_empty(lab: Lab) -> None:
    name = "pstore"
    img = lab.scenario(
        name,
        {"SCENARIO": "pstore", "MAX_BOOTS": "2"},
        {"/etc/modules-load.d/crashd-vmtest-ramoops.conf": "ramoops\n", BAD_SPOOL_FILE: "planted\n"},
    )
    cmdline = f"root=/dev/vda rw console=ttyS0 panic=5 {RAMOOPS_CMDLINE}"
    run = Run(lab, name, img, lab.guest(name, img, cmdline).start())
    with run.guest:
        run.expect(r"^VMTEST: pstore backend: ramoops", 300)
        panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120)
        run.expect(r"Linux version \S+", 120, after=panic + 1)  # the warm reset
        run.expect(r"^VMTEST: boot 2 ", 300, after=panic + 1)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    records = outcome.records()
    pstore_rows = [r for r in records if r["pstore"]]
    assert len(pstore_rows) == 1, f"crashd list --json: {records}\n{outcome.explain()}"
    (record,) = [d for d in outcome.record_dirs() if d.name == pstore_rows[0]["name"]]
    meta = json.loads((record / "metadata.json").read_text())
    assert "pstore" in meta["kind"]
    assert meta["kernel"]["release"] in (img.release, None)
    raw = "".join(p.read_text(errors="replace") for p in (record / "pstore").rglob("*") if p.is_file())
    assert "sysrq triggered crash" in raw
    assert "sysrq triggered crash" in (record / "dmesg.txt").read_text(errors="replace")
    after = outcome.text("pstore-after.txt")
    assert "ramoops" not in after, f"pstore still holds the record after ingest:\n{after}"
    journal = outcome.text("journal-this.txt")
    assert "Crash ingest failed for" in journal and "20260101T000000-deadbeef" in journal, journal[-4000:]
    assert read_file(img.disk, BAD_SPOOL_FILE) == "planted\n", "the bad capture was not left in place"
    lab.discard(name)
