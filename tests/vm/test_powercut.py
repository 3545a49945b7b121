"""Scenario c (power cut during capture): QEMU is killed while crashd save is copying the dump;
on the next boot the capture is ingested as a record flagged incomplete, and nothing claims to be
complete."""

from __future__ import annotations

import json

import pytest

from tests.vm.lab import Lab, crash_and_capture, kdump_cmdline, start_kdump

pytestmark = pytest.mark.vm

# The native copy collector streams the whole ELF vmcore with a console line every 10 %: a wide,
# observable window to pull the plug in. kexec_file_load: this scenario is about the save, so it
# arms the way vm-lab.md found reliable (kexec -s) rather than whatever [arm] auto picks.
COPY_DROPIN = "[arm]\nkexec_file_load = yes\n[capture]\ncollector = copy\n"


def test_power_cut_during_save_leaves_an_incomplete_record(lab: Lab) -> None:
    name = "powercut"
    run = start_kdump(lab, name, "256M", {"/etc/crashd.conf.d/vmtest.conf": COPY_DROPIN})
    with run.guest:
        capture = crash_and_capture(run)
        cut = run.expect(r"crashd save: .*\b[2-8]0% \(", 400, after=capture)
        run.guest.kill()
    cut_line = run.guest.lines[cut].text
    # Power back on: a normal boot (the driver counts it as boot 2) ingests what is on disk.
    run.guest = lab.guest(name, run.img, kdump_cmdline("256M")).start()
    with run.guest:
        run.expect(r"^VMTEST: boot 2 ", 400)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    records = outcome.records()
    assert records, f"no record after the power cut ({cut_line})\n{outcome.explain()}"
    assert all(r["complete"] is not True for r in records), records
    for record in outcome.record_dirs():
        meta = json.loads((record / "metadata.json").read_text())
        assert meta["complete"] is False, meta
    lab.figures.append(f"powercut: plug pulled at {cut_line!r}; records: {[r['name'] for r in records]}")
    lab.discard(name)
