"""The ingest side of "no crash goes unnoticed": a previous boot that was armed, ended without
a clean shutdown and left neither a capture nor a pstore record becomes an ``unclean-reset``
record, once; a clean shutdown, a capture or a pstore record of that boot never makes one."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from crashd.arm.bootlog import note_armed, note_stopped
from crashd.core.bootledger import BootEntry, read_entry, write_entry
from crashd.core.tools import ToolRunner
from crashd.ingest.run import Ingester, IngestResult
from crashd.ingest.store import Checkpoint, _no_checkpoint
from tests.unit.ingest.scenario import BOOT_CRASHED, BOOT_NOW, PANIC, Machine, pstore_text, sysrq_messages

JOURNAL_TAIL = (
    "[  301.112233] guest systemd[1]: Started session-2.scope - Session 2 of User root.\n"
    "[  302.445566] guest kernel: sysrq: Trigger a crash\n"
)


def _tools(tmp_path: Path, *, body: str | None = None, rc: int = 0, stderr: str = "") -> ToolRunner:
    """A fake journalctl: records its argv, prints ``body`` (the tail of the asked-for boot)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "journal-body").write_text(JOURNAL_TAIL if body is None else body)
    tool = bin_dir / "journalctl"
    tool.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$*" >> {bin_dir}/journalctl.log\n'
        f"cat {bin_dir}/journal-body\n"
        f"[ -n '{stderr}' ] && echo '{stderr}' >&2\n"
        f"exit {rc}\n"
    )
    tool.chmod(0o755)
    return ToolRunner(path=f"{bin_dir}:/usr/bin:/bin")


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "fakebin" / "journalctl.log"
    return log.read_text().splitlines() if log.exists() else []


def _armed_entry(boot: str = BOOT_CRASHED, *, degraded: bool = True, ended: Any = None) -> BootEntry:
    """What crashd.arm.bootlog writes for a boot armed into a too small reservation."""
    summary = ("armed, but the capture kernel will likely run out of memory: needs ~180 MiB, 96 MiB reserved "
               "— set crashkernel=256M (see 'crashd estimate')")
    return {
        "schema": 1,
        "boot_id": boot,
        "release": "6.1.0-56-amd64",
        "capture_release": "6.1.0-56-amd64",
        "reserved": 96 << 20,
        "armed_at": "2026-11-27T17:30:00+00:00",
        "updated_at": "2026-11-27T17:30:00+00:00",
        "readiness": {
            "summary": summary if degraded else "armed",
            "degraded": [{"name": "capture_memory", "reason": "reservation_too_small", "title": "…", "hint": "…",
                          "evidence": {"needed_mib": 180, "reserved_mib": 96}}] if degraded else [],
            "needed_mib": 180 if degraded else 120,
            "reserved_mib": 96 if degraded else 256,
        },
        "ended": ended,
        "handled": None,
    }


def _ingest(m: Machine, tools: ToolRunner, checkpoint: Checkpoint = _no_checkpoint) -> IngestResult:
    return Ingester(m.paths, m.config(), m.journal, tools=tools, checkpoint=checkpoint, now=1_800_000_000).run()


def _unclean_records(m: Machine) -> list[Path]:
    return [r for r in m.records() if "-unclean-reset-" in r.name]


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    m = Machine(tmp_path / "root")
    m.paths.var("lib").mkdir(parents=True, exist_ok=True)
    return m


def test_armed_and_unclean_becomes_one_record(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    result = _ingest(machine, _tools(tmp_path))
    (record,) = _unclean_records(machine)
    assert result.created == [record.name]
    assert stat.S_IMODE(record.stat().st_mode) == 0o700
    meta = machine.metadata(record)
    assert meta["kind"] == "unclean-reset"
    assert meta["crashed_boot_id"] == BOOT_CRASHED
    assert meta["complete"] is False
    assert meta["sources"]["vmcore"] is None and meta["sources"]["pstore"] == []
    unclean = meta["sources"]["unclean"]
    assert unclean["boot_id"] == BOOT_CRASHED
    assert "the capture kernel did not run" in unclean["summary"]
    assert unclean["readiness"].startswith("armed, but the capture kernel will likely run out of memory")
    reasons = " | ".join(unclean["likely_reasons"])
    assert "out of memory" in reasons and "180 MiB" in reasons and "96 MiB" in reasons
    assert "watchdog" in reasons and "power" in reasons
    assert all(r.startswith(("possibly", "perhaps", "maybe")) or "may" in r or "might" in r
               for r in unclean["likely_reasons"]), unclean["likely_reasons"]  # possibilities, not facts
    assert (record / "journal.txt").read_text() == JOURNAL_TAIL
    assert set(meta["files"]) == {"journal.txt"}
    assert _calls(tmp_path) == [f"-b {BOOT_CRASHED} -n 50 -o short-monotonic --no-pager --root {machine.paths.root}"]
    (event,) = [e for e in machine.journal.events if e[0] == "record_created"]
    assert record.name in event[1] and "did not end cleanly" in event[1]
    assert event[2]["kind"] == "unclean-reset" and event[2]["record"] == record.name
    entry = read_entry(machine.paths, BOOT_CRASHED)
    assert entry is not None and entry["handled"] is not None
    assert entry["handled"]["outcome"] == "unclean-reset" and entry["handled"]["record"] == record.name


def test_rerun_makes_no_second_record_and_no_second_event(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    tools = _tools(tmp_path)
    _ingest(machine, tools)
    again = _ingest(machine, tools)
    assert len(_unclean_records(machine)) == 1
    assert again.created == []
    assert [e[0] for e in machine.journal.events].count("record_created") == 1


@pytest.mark.parametrize("step", ["wrote metadata.json", "published", "handled"])
def test_killed_at_any_step_leaves_exactly_one_record(machine: Machine, tmp_path: Path, step: str) -> None:
    """kill -9 between writing, publishing and marking the boot handled: the rerun finishes."""
    write_entry(machine.paths, _armed_entry())
    tools = _tools(tmp_path)

    class Killed(BaseException):
        pass

    def kill(at: str) -> None:
        if at.startswith(step):
            raise Killed(at)

    with pytest.raises(Killed):
        _ingest(machine, tools, kill)
    _ingest(machine, tools)
    _ingest(machine, tools)
    assert len(_unclean_records(machine)) == 1
    assert not [p for p in machine.store.iterdir() if p.name.startswith(".unclean")]
    entry = read_entry(machine.paths, BOOT_CRASHED)
    assert entry is not None and entry["handled"] is not None


def test_a_clean_shutdown_never_makes_a_record(machine: Machine, tmp_path: Path) -> None:
    """The daemon's own notes, end to end: armed in the previous boot, SIGTERM while the
    system was stopping, then a new boot."""
    boot_file = machine.paths.boot_id
    boot_file.write_text("0f5c3b5e-8c1e-4a53-9d55-8c2ba3b7e1a2\n")  # the previous boot, running
    note_armed(machine.paths, None)
    systemctl = tmp_path / "sysbin"
    systemctl.mkdir()
    (systemctl / "systemctl").write_text("#!/bin/sh\necho stopping\nexit 1\n")
    (systemctl / "systemctl").chmod(0o755)
    note_stopped(machine.paths, ToolRunner(path=f"{systemctl}:/usr/bin:/bin"))
    boot_file.write_text("1111aaaa-8c1e-4a53-9d55-8c2ba3b7e1a2\n")  # rebooted
    result = _ingest(machine, _tools(tmp_path))
    assert _unclean_records(machine) == [] and result.created == []
    assert _calls(tmp_path) == []
    assert not [e for e in machine.journal.events if e[0] == "record_created"]


def test_a_service_stopped_by_hand_is_not_held_against_the_boot(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry(ended={"at": "x", "how": "service stopped", "evidence": "running"}))
    assert _ingest(machine, _tools(tmp_path)).created == []
    assert _unclean_records(machine) == []


def test_a_capture_of_that_boot_means_no_unclean_record(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    machine.capture(boot=BOOT_CRASHED)
    result = _ingest(machine, _tools(tmp_path))
    assert len(result.created) == 1 and "-kdump-" in result.created[0]
    assert _unclean_records(machine) == []
    entry = read_entry(machine.paths, BOOT_CRASHED)
    assert entry is not None and entry["handled"] is not None
    assert entry["handled"]["outcome"] == "capture" and entry["handled"]["record"] == result.created[0]


def test_a_capture_left_in_the_spool_means_no_unclean_record(machine: Machine, tmp_path: Path) -> None:
    """A capture of that boot that this run could not ingest is still that boot's evidence."""
    write_entry(machine.paths, _armed_entry())
    cap = machine.capture(boot=BOOT_CRASHED)
    (cap / "vmcore").unlink()
    (cap / "vmcore").mkdir()  # refused: left in place for the next run
    result = _ingest(machine, _tools(tmp_path))
    assert result.problems
    assert _unclean_records(machine) == []
    entry = read_entry(machine.paths, BOOT_CRASHED)
    assert entry is not None and entry["handled"] is None  # decided once the capture is in


def test_a_pstore_record_of_that_boot_means_no_unclean_record(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    machine.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages()))
    result = _ingest(machine, _tools(tmp_path))
    assert len(result.created) == 1 and "-pstore-" in result.created[0]
    assert _unclean_records(machine) == []
    entry = read_entry(machine.paths, BOOT_CRASHED)
    assert entry is not None and entry["handled"] is not None and entry["handled"]["outcome"] == "pstore"
    assert PANIC  # the pstore text is the sysrq crash


def test_this_boots_own_entry_is_never_unclean(machine: Machine, tmp_path: Path) -> None:
    """A hand-run 'crashd ingest' while this boot's daemon has it armed."""
    write_entry(machine.paths, _armed_entry(BOOT_NOW))
    assert _ingest(machine, _tools(tmp_path)).created == []


def test_without_a_boot_id_nothing_is_decided(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    machine.paths.boot_id.unlink()
    assert _ingest(machine, _tools(tmp_path)).created == []
    entry = read_entry(machine.paths, BOOT_CRASHED)
    assert entry is not None and entry["handled"] is None


def test_an_absent_journal_is_said(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry(degraded=False))
    tools = _tools(tmp_path, body="", rc=1, stderr="Data from the specified boot is not available: No such boot ID")
    _ingest(machine, tools)
    (record,) = _unclean_records(machine)
    meta = machine.metadata(record)
    unclean = meta["sources"]["unclean"]
    assert unclean["journal"] is None
    assert "not available" in unclean["journal_note"] and "No such boot ID" in unclean["journal_note"]
    assert meta["files"] == {}
    reasons = " | ".join(unclean["likely_reasons"])
    assert "out of memory" not in reasons  # the estimate fitted: not offered as a reason


def test_no_journalctl_is_said(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    empty = tmp_path / "nothing"
    empty.mkdir()
    _ingest(machine, ToolRunner(path=str(empty)))
    (record,) = _unclean_records(machine)
    note = machine.metadata(record)["sources"]["unclean"]["journal_note"]
    assert "journalctl" in note and "not found" in note


def test_the_journal_tail_is_bounded(machine: Machine, tmp_path: Path) -> None:
    write_entry(machine.paths, _armed_entry())
    _ingest(machine, _tools(tmp_path, body="x" * (4 << 20)))
    (record,) = _unclean_records(machine)
    assert (record / "journal.txt").stat().st_size <= 256 << 10


def test_a_planted_ledger_entry_is_refused(machine: Machine, tmp_path: Path) -> None:
    """The ledger is root's 0700 directory; an entry that is a symlink is not read."""
    machine.paths.boot_ledger.mkdir(parents=True)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps(_armed_entry()))
    os.symlink(target, machine.paths.boot_ledger / f"{BOOT_CRASHED}.json")
    assert _ingest(machine, _tools(tmp_path)).created == []


def test_crashd_list_and_show_tell_what_is_known(machine: Machine, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from crashd.cli import main

    write_entry(machine.paths, _armed_entry())
    _ingest(machine, _tools(tmp_path))
    (record,) = _unclean_records(machine)
    capsys.readouterr()
    assert main(["list", "--root", str(machine.paths.root)]) == 0
    assert "unclean-reset" in capsys.readouterr().out
    assert main(["show", record.name, "--root", str(machine.paths.root)]) == 0
    out = capsys.readouterr().out
    assert "the capture kernel did not run" in out
    assert "Possibly: the capture kernel may have run out of memory" in out
    assert "journal.txt" in out and "None" not in out
