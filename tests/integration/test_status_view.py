"""``crashd status`` for a person: the verdict first, the loaded kexec command and since when, details on request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crashd.arm.armstate import ArmState, write_state
from tests.fakeroot import armed_guest, build_root
from tests.integration.cli import run_crashd
from tests.integration.tty import run_on_tty

ARGV = ["kexec", "-p", "-s", "--initrd=/boot/initrd.img-6.1.0-56-amd64", "--append=console=ttyS0 nr_cpus=1",
        "/boot/vmlinuz-6.1.0-56-amd64"]


@pytest.fixture
def armed(tmp_path: Path) -> tuple[Path, str]:
    d = tmp_path / "bin"
    d.mkdir()
    (d / "kexec").write_text("#!/bin/sh\nexit 0\n")
    (d / "kexec").chmod(0o755)
    paths = build_root(tmp_path / "root", armed_guest())
    write_state(paths, ArmState(armed=True, kernel="/boot/vmlinuz-6.1.0-56-amd64", cmdline="console=ttyS0 nr_cpus=1",
                                since="2026-12-01T18:39:07+00:00", reason="start", argv=ARGV, file_load=True))
    return paths.root, f"{d}:/usr/bin:/bin"


def test_summary_first_then_the_loaded_command_and_since_when(armed: tuple[Path, str]) -> None:
    root, path = armed
    res = run_crashd(["status"], root, path, env={"TZ": "UTC"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("armed: 6.1.0-56-amd64, 256 MiB reserved")
    assert lines[1].startswith("self-test: never tested")
    loaded = next(line for line in lines if line.startswith("kexec: "))
    assert loaded.startswith("kexec: " + " ".join(ARGV[:4]))
    assert re.search(r"loaded since Tue 2026-12-01 18:39:07 UTC \([^)]* ago\) \(start\)", res.stdout), res.stdout
    assert re.match(r"checks: \d+ ok", next(line for line in lines if line.startswith("checks: ")))
    assert "read: " not in res.stdout  # the evidence is under --verbose


def test_verbose_shows_every_check_and_what_was_read(armed: tuple[Path, str]) -> None:
    root, path = armed
    res = run_crashd(["status", "--verbose"], root, path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].startswith("armed: ")
    for name in ("kernel_support", "crashkernel", "kexec_tool", "capture_target"):
        assert re.search(rf"^  ok +{name} ", res.stdout, re.M), name
    assert "read: " in res.stdout


def test_a_problem_is_listed_without_verbose(armed: tuple[Path, str], tmp_path: Path) -> None:
    root, path = armed
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/crashd.conf").write_text("[capture]\ntarget = LABEL=nonexistent\n")
    (root / "dev/disk/by-label").mkdir(parents=True, exist_ok=True)
    res = run_crashd(["status"], root, path)
    assert res.returncode == 4
    assert res.stdout.startswith("armed, but the dump cannot be saved")
    assert re.search(r"^  MISSING +capture_target ", res.stdout, re.M)
    assert re.search(r"^ +fix: ", res.stdout, re.M)
    assert not re.search(r"^  ok +kernel_support ", res.stdout, re.M)
    tty = run_on_tty(["status", "--no-pager"], root, {"PATH": path})
    assert "\x1b[0;1;31mMISSING" in tty.stdout and tty.stdout.startswith("\x1b[0;1;33marmed, but")


def test_json_keeps_arm_state_times_iso(armed: tuple[Path, str]) -> None:
    root, path = armed
    data = json.loads(run_crashd(["status", "--json=short"], root, path).stdout)
    assert data["arm_state"]["since"] == "2026-12-01T18:39:07+00:00" and data["arm_state"]["argv"] == ARGV
