"""Issue 10 A in the real capture kernel: the collector stops making progress.

The native copy is made to block, 16 MiB into the dump, in a read that never returns
(``CRASHD_TEST_STALL_AT_BYTE``, set for crashd-save.service by a unit drop-in; see
crashd/capture/testhooks.py). crashd's watchdog must end it after ``stall_timeout``,
keep dmesg.txt, write capture.json naming the stall, and reboot: the machine is
back up within the bound, with a ``complete: false`` record that says why.
"""

from __future__ import annotations

import json

import pytest

from tests.vm.lab import Lab, crash_and_capture, start_kdump

pytestmark = pytest.mark.vm

STALL_TIMEOUT = 5
# A generous bound on panic -> back up, for TCG on 2 shared cores: the capture boot, the
# dmesg, the stall (5 s) and the reboot. Without the fix the guest never comes back.
BACK_UP_WITHIN = 600
DROPINS = {
    "/etc/crashd.conf.d/vmtest.conf": (
        f"[arm]\nkexec_file_load = yes\n[capture]\ncollector = copy\nstall_timeout = {STALL_TIMEOUT}s\n"
    ),
    "/etc/systemd/system/crashd-save.service.d/vmtest-stall.conf": (
        "[Service]\nEnvironment=CRASHD_TEST_STALL_AT_BYTE=16777216\n"
    ),
}


def test_stalled_collector_is_killed_and_the_machine_comes_back(lab: Lab) -> None:
    name = "stall"
    run = start_kdump(lab, name, "256M", DROPINS)
    with run.guest:
        capture = crash_and_capture(run)
        stalled = run.expect(r"crashd save: error: copy stalled: no progress for", 300, after=capture)
        run.expect(r"^VMTEST: boot 2 ", BACK_UP_WITHIN, after=stalled)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    records = outcome.records()
    assert len(records) == 1, f"{records}\n{outcome.explain()}"
    assert records[0]["complete"] is not True, records
    (record,) = outcome.record_dirs()
    meta = json.loads((record / "metadata.json").read_text())
    assert meta["complete"] is False
    assert "sysrq triggered crash" in (record / "dmesg.txt").read_text(errors="replace")
    capture_json = meta["capture"] or {}
    assert capture_json.get("complete") is False, capture_json
    assert any("copy stalled" in e for e in capture_json.get("errors", [])), capture_json
    lab.figures.append(f"stall: {run.guest.lines[stalled].text!r}")
    lab.discard(name)
