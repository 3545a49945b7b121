"""The arm side of unclean-reset detection: each armed boot is noted, durably; an orderly
shutdown (and only that) marks it ended; the ledger stays bounded."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from crashd.arm.bootlog import note_armed, note_stopped, prune
from crashd.arm.readiness import DEGRADED_CHECKS, MISSING, OK, Check, Readiness
from crashd.core.bootledger import KEEP_BOOTS, read_entries, read_entry
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from tests.fakeroot import RELEASE, build_root

BOOT = "1111aaaa8c1e4a539d558c2ba3b7e1a2"


def _root(tmp_path: Path) -> HostPaths:
    return build_root(tmp_path / "root", {
        "/proc/sys/kernel/random/boot_id": "1111aaaa-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
        "/proc/sys/kernel/osrelease": RELEASE + "\n",
        "/sys/kernel/kexec_crash_size": "100663296\n",
        "/run/": "",
        "/var/lib/": "",
    })


def _systemctl(tmp_path: Path, state: str, rc: int = 1) -> ToolRunner:
    """A fake systemctl printing ``state`` as is-system-running does (exit 0 only for "running")."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "systemctl"
    log = tmp_path / "systemctl.log"
    tool.write_text(f'#!/bin/sh\necho "$@" >> {log}\necho {state}\nexit {rc}\n')
    tool.chmod(0o755)
    return ToolRunner(path=f"{bin_dir}:/usr/bin:/bin")


def _readiness(degraded: bool = False) -> Readiness:
    from crashd.arm.bootfiles import BootFiles

    memory = Check("capture_memory", MISSING if degraded else OK,
                   "reservation_too_small" if degraded else "fits",
                   {"needed_mib": 180, "reserved_mib": 96},
                   "set crashkernel=256M (see 'crashd estimate')" if degraded else "",
                   "the capture kernel will likely run out of memory: needs ~180 MiB, 96 MiB reserved"
                   if degraded else "capture kernel memory")
    assert memory.name in DEGRADED_CHECKS
    boot = BootFiles(release=RELEASE, kernel=Path("/boot/vmlinuz"), initrd=None, dtb=None, kernel_kind="bzImage")
    return Readiness(checks=[memory], armed=True, ready=True, file_load_required=False, boot_files=boot,
                     reserved_bytes=96 << 20)


def test_an_armed_boot_is_noted_durably_and_privately(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    old = os.umask(0o000)  # the umask must not decide who reads the ledger
    try:
        note_armed(paths, _readiness(degraded=True))
    finally:
        os.umask(old)
    entry = read_entry(paths, BOOT)
    assert entry is not None
    assert entry["release"] == RELEASE
    assert entry["reserved"] == 100663296
    assert entry["ended"] is None and entry["handled"] is None
    assert entry["readiness"]["summary"].startswith("armed, but the capture kernel will likely run out of memory")
    assert entry["readiness"]["needed_mib"] == 180 and entry["readiness"]["reserved_mib"] == 96
    assert [d["name"] for d in entry["readiness"]["degraded"]] == ["capture_memory"]
    f = paths.boot_ledger / f"{BOOT}.json"
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.boot_ledger.stat().st_mode) == 0o700
    assert stat.S_IMODE(paths.boot_ledger.parent.stat().st_mode) == 0o700


def test_rearming_keeps_the_first_arm_time_and_takes_the_latest_readiness(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    note_armed(paths, _readiness(degraded=True))
    first = read_entry(paths, BOOT)
    assert first is not None
    note_armed(paths, _readiness(degraded=False))
    again = read_entry(paths, BOOT)
    assert again is not None
    assert again["armed_at"] == first["armed_at"]
    assert again["readiness"]["summary"] == "armed"
    assert again["readiness"]["degraded"] == []


def test_sigterm_during_shutdown_marks_the_boot_ended(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    note_armed(paths, _readiness())
    note_stopped(paths, _systemctl(tmp_path, "stopping"))
    entry = read_entry(paths, BOOT)
    assert entry is not None and entry["ended"] is not None
    assert entry["ended"]["how"] == "shutdown"
    assert "stopping" in entry["ended"]["evidence"]
    assert (tmp_path / "systemctl.log").read_text().split() == ["is-system-running"]


def test_a_scheduled_shutdown_counts_when_systemctl_cannot_say(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    note_armed(paths, _readiness())
    (paths.run("systemd", "shutdown")).mkdir(parents=True)
    (paths.run("systemd", "shutdown", "scheduled")).write_text("USEC=1\nMODE=reboot\n")
    note_stopped(paths, ToolRunner(path=str(tmp_path / "empty")))  # no systemctl at all
    entry = read_entry(paths, BOOT)
    assert entry is not None and entry["ended"] is not None and entry["ended"]["how"] == "shutdown"


def test_stopping_the_service_on_a_running_system_is_not_a_shutdown(tmp_path: Path) -> None:
    """The boot goes on unwatched: recorded as such, so its later end is never called unclean
    on crashd's word alone (no false record), and never called a shutdown either."""
    paths = _root(tmp_path)
    note_armed(paths, _readiness())
    note_stopped(paths, _systemctl(tmp_path, "running", rc=0))
    entry = read_entry(paths, BOOT)
    assert entry is not None and entry["ended"] is not None
    assert entry["ended"]["how"] == "service stopped"


def test_a_restart_after_a_stop_is_armed_again(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    note_armed(paths, _readiness())
    note_stopped(paths, _systemctl(tmp_path, "degraded"))
    note_armed(paths, _readiness())
    entry = read_entry(paths, BOOT)
    assert entry is not None and entry["ended"] is None


def test_stop_without_an_arm_writes_nothing(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    note_stopped(paths, _systemctl(tmp_path, "stopping"))
    assert not paths.boot_ledger.exists()


def test_a_ledger_that_cannot_be_written_does_not_raise(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    paths.var("lib", "crashd").write_text("not a directory")
    note_armed(paths, _readiness())  # logged, never raised: the daemon must go on
    note_stopped(paths, _systemctl(tmp_path, "stopping"))


def test_a_symlinked_ledger_is_not_followed(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    paths.var("lib", "crashd").mkdir()
    paths.boot_ledger.symlink_to(elsewhere)
    note_armed(paths, _readiness())
    assert list(elsewhere.iterdir()) == []


def test_the_ledger_is_bounded(tmp_path: Path) -> None:
    paths = _root(tmp_path)
    paths.boot_ledger.mkdir(parents=True)
    for i in range(KEEP_BOOTS + 5):
        boot = f"{i:032x}"
        (paths.boot_ledger / f"{boot}.json").write_text(json.dumps({
            "schema": 1, "boot_id": boot, "release": RELEASE, "capture_release": None, "reserved": 1,
            "armed_at": f"2026-01-{i + 1:02d}T00:00:00+00:00", "updated_at": "x",
            "readiness": {"summary": "armed", "degraded": [], "needed_mib": None, "reserved_mib": None},
            "ended": None, "handled": None}))
    (paths.boot_ledger / "junk.json").write_text("{")
    note_armed(paths, _readiness())  # a new boot: prunes to KEEP_BOOTS, the newest kept
    boots = [e["boot_id"] for e in read_entries(paths)]
    assert len(boots) == KEEP_BOOTS
    assert BOOT in boots
    assert f"{0:032x}" not in boots and f"{KEEP_BOOTS + 4:032x}" in boots
    assert not (paths.boot_ledger / "junk.json").exists()
    prune(paths)  # idempotent
    assert len(read_entries(paths)) == KEEP_BOOTS


def test_disarm_marks_the_boot_ended_and_a_rearm_reopens_it(tmp_path: Path) -> None:
    """After ``crashd disarm`` a crash is not expected to be captured: the next boot's ingest
    must not call that boot "armed, capture never ran". Arming again reopens the entry."""
    from crashd.arm.bootlog import note_disarmed

    paths = _root(tmp_path)
    note_armed(paths, _readiness())
    note_disarmed(paths, "crashd disarm")
    entry = read_entry(paths, BOOT)
    assert entry is not None and entry["ended"] is not None
    assert entry["ended"]["how"] == "disarmed" and entry["ended"]["evidence"] == "crashd disarm"
    note_armed(paths, _readiness())
    entry = read_entry(paths, BOOT)
    assert entry is not None and entry["ended"] is None


def test_disarm_of_a_boot_never_armed_writes_nothing(tmp_path: Path) -> None:
    from crashd.arm.bootlog import note_disarmed

    paths = _root(tmp_path)
    note_disarmed(paths, "crashd disarm")
    assert read_entries(paths) == []
