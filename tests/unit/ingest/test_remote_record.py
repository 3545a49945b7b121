"""A capture whose dump went to a dump server: the local record says where it lives."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.ingest.scenario import Machine

LOCATION = "ssh://crash@dumps.example:22/srv/crash/crashd/20261127T173600-0f5c3b5e/vmcore.flat"


def test_a_remote_capture_is_a_complete_record_that_names_the_server_copy(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(dmesg="[    1.000000] Kernel panic - not syncing: sysrq triggered crash\n",
                  info={"dump_file": None, "remote_location": LOCATION})
    (d / "vmcore").unlink()  # the dump is on the server; locally only dmesg.txt and capture.json
    m.ingest()
    (record,) = m.records()
    meta = json.loads((record / "metadata.json").read_text())
    assert meta["complete"] is True
    assert meta["sources"]["vmcore"]["location"] == LOCATION
    assert not any(n.startswith("vmcore") for n in meta["files"])


def test_a_local_capture_without_a_dump_is_still_incomplete(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    d = m.capture(dmesg="[    1.000000] Kernel panic - not syncing: sysrq triggered crash\n", info={"dump_file": None})
    (d / "vmcore").unlink()
    m.ingest()
    (record,) = m.records()
    meta = json.loads((record / "metadata.json").read_text())
    assert meta["complete"] is False
    assert "location" not in (meta["sources"]["vmcore"] or {})
