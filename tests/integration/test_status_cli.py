"""``crashd status`` and ``crashd config`` as a user runs them (subprocess, fake root)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fakeroot import armed_guest, build_root, dev_machine, unarmed_guest
from tests.integration.cli import run_crashd

CHECK_NAMES = ["kernel_support", "crashkernel", "kexec_tool", "kexec_allowed", "kexec_mode", "capture_files",
               "capture_memory", "armed", "pstore", "panic_policy", "capture_target", "capture_remote"]


@pytest.fixture
def bindir(tmp_path: Path) -> str:
    d = tmp_path / "bin"
    d.mkdir()
    (d / "kexec").write_text("#!/bin/sh\nexit 0\n")
    (d / "kexec").chmod(0o755)
    return f"{d}:/usr/bin:/bin"


def test_status_json_armed_guest_exits_0_and_names_every_check(tmp_path: Path, bindir: str) -> None:
    build_root(tmp_path / "root", armed_guest())
    proc = run_crashd(["status", "--json"], tmp_path / "root", bindir)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["version"] == 1 and data["armed"] is True
    assert [c["name"] for c in data["checks"]] == CHECK_NAMES
    for c in data["checks"]:
        assert c["state"] in ("ok", "missing", "unknown") and c["reason"]


def test_status_not_loaded_exits_3(tmp_path: Path, bindir: str) -> None:
    build_root(tmp_path / "root", unarmed_guest())
    proc = run_crashd(["status", "--json"], tmp_path / "root", bindir)
    assert proc.returncode == 3
    assert json.loads(proc.stdout)["armed"] is False


def test_status_without_reservation_says_how_to_fix(tmp_path: Path, bindir: str) -> None:
    build_root(tmp_path / "root", dev_machine())
    proc = run_crashd(["status"], tmp_path / "root", bindir)
    assert proc.returncode == 3
    assert "no crashkernel reservation" in proc.stdout
    assert re.search(r"fix: add crashkernel=\d+M to the kernel command line", proc.stdout)
    assert "Traceback" not in proc.stderr


def test_status_armed_but_target_missing_exits_4(tmp_path: Path, bindir: str) -> None:
    build_root(tmp_path / "root", {**armed_guest(), "/dev/disk/by-label/": "",
                                   "/etc/crashd.conf": "[capture]\ntarget = LABEL=nonexistent\n"})
    proc = run_crashd(["status"], tmp_path / "root", bindir)
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout.startswith("armed, but the dump cannot be saved: no device has LABEL=nonexistent")
    proc = run_crashd(["status", "--json"], tmp_path / "root", bindir)
    assert proc.returncode == 4
    data = json.loads(proc.stdout)
    assert data["armed"] is True and "capture_target" in data["degraded"]
    assert data["summary"].startswith("armed, but the dump cannot be saved")


def test_status_not_armed_wins_over_an_unsavable_target(tmp_path: Path, bindir: str) -> None:
    build_root(tmp_path / "root", {**unarmed_guest(), "/etc/crashd.conf": "[capture]\ntarget = /srv/none/x\n"})
    assert run_crashd(["status"], tmp_path / "root", bindir).returncode == 3


def test_config_check_three_errors_in_two_files(tmp_path: Path) -> None:
    build_root(tmp_path / "root", {
        "/etc/crashd.conf": "[arm]\nenabled = sometimes\n\n[capture]\ncompression = rar\n",
        "/etc/crashd.conf.d/50-local.conf": "# local\n[retention]\nmax_age = forever\n",
    })
    proc = run_crashd(["config", "check"], tmp_path / "root")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    assert lines[0].startswith("/etc/crashd.conf:2: [arm] enabled: not a boolean")
    assert lines[1].startswith("/etc/crashd.conf:5: [capture] compression: unknown value 'rar'; allowed: auto, none,")
    assert lines[2].startswith("/etc/crashd.conf.d/50-local.conf:3: [retention] max_age: not a duration")


def test_config_check_ok_and_show_origins(tmp_path: Path) -> None:
    build_root(tmp_path / "root", {"/etc/crashd.conf.d/10-x.conf": "[capture]\ntarget = LABEL=crash\n"})
    assert run_crashd(["config", "check"], tmp_path / "root").returncode == 0
    proc = run_crashd(["config", "show", "--json"], tmp_path / "root")
    assert proc.returncode == 0
    settings = {(s["section"], s["key"]): s for s in json.loads(proc.stdout)["settings"]}
    assert settings["capture", "target"] == {"section": "capture", "key": "target", "value": "LABEL=crash",
                                             "origin": "/etc/crashd.conf.d/10-x.conf:2"}
    assert settings["arm", "enabled"]["origin"] == "default"
    text = run_crashd(["config", "show"], tmp_path / "root").stdout
    assert "target = LABEL=crash    # /etc/crashd.conf.d/10-x.conf:2" in text


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_crashd([]).returncode == 2
    assert run_crashd(["frobnicate"]).returncode == 2
    assert run_crashd(["config", "explode"]).returncode == 2
    assert run_crashd(["--version"]).returncode == 0


@pytest.mark.parametrize("where", ["before", "after"])
def test_root_option_before_or_after_the_verb_is_honoured(tmp_path: Path, bindir: str, where: str) -> None:
    """`crashd --root X status` once took X for the verb and then reset --root to /."""
    build_root(tmp_path / "root", armed_guest())
    args = ["--root", str(tmp_path / "root"), "status", "--json"] if where == "before" else \
        ["status", "--json", "--root", str(tmp_path / "root")]
    proc = run_crashd(args, None, bindir)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["armed"] is True  # the fake root is armed; this machine is not


def test_verb_is_found_past_option_values() -> None:
    from crashd.cli import find_verb

    assert find_verb(["--root", "list", "status", "--json"]) == "status"
    assert find_verb(["--debug", "show", "x"]) == "show"
    assert find_verb(["--root", "/x"]) is None
    assert find_verb(["nonsense", "list"]) is None
