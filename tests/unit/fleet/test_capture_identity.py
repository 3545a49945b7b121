"""capture.json says which machine crashed: hostname and machine id travel with the
capture, locally and in the server's copy of an ssh capture (issue 13, item 6)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from crashd.capture import remote_ssh
from crashd.capture.save import Saver
from crashd.capture.spool import SPOOL_DIR
from crashd.core.config import default_config
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from tests.fakeroot import build_root
from tests.unit.capture.elfcore import PAGE, Load, pattern, write_core

FAKES = Path(__file__).resolve().parents[2] / "fakes"
BOOT_ID = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"
MID = "5c1b0d9f3e2a4c6b8d7e9f0a1b2c3d4e"


def _root(tmp_path: Path, extra: dict[str, str | bytes | None]) -> HostPaths:
    files: dict[str, str | bytes | None] = {
        "/proc/cmdline": f"console=ttyS0 crashd.boot_id={BOOT_ID}\n",
        "/var/crash/": "",
        "/etc/crashd/ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n",
        "/etc/crashd/ssh/known_hosts": "dumps.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKE\n",
        **extra,
    }
    paths = build_root(tmp_path / "root", files)
    write_core(paths.vmcore, [Load(16 * PAGE, pages=pattern(1))], release="6.1.0-56-amd64")
    return paths


def _only(parent: Path) -> Path:
    (d,) = [p for p in parent.iterdir() if p.is_dir()]
    return d


def test_local_capture_names_the_machine(tmp_path: Path) -> None:
    paths = _root(tmp_path, {"/etc/hostname": "web-07\n", "/etc/machine-id": MID + "\n"})
    config = dataclasses.replace(default_config().capture, collector="copy")
    Saver(paths, ToolRunner(path="/usr/bin:/bin"), config, console=io.StringIO(), mount_deadline=0).run()
    info = json.loads((_only(paths.var("crash", SPOOL_DIR)) / "capture.json").read_text())
    assert (info["hostname"], info["machine_id"]) == ("web-07", MID)


def test_unknown_machine_is_null_not_invented(tmp_path: Path) -> None:
    paths = _root(tmp_path, {})
    config = dataclasses.replace(default_config().capture, collector="copy")
    Saver(paths, ToolRunner(path="/usr/bin:/bin"), config, console=io.StringIO(), mount_deadline=0).run()
    info = json.loads((_only(paths.var("crash", SPOOL_DIR)) / "capture.json").read_text())
    assert info["hostname"] is None and info["machine_id"] is None


def test_the_servers_copy_names_the_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_ssh, "RETRY_PAUSE", 0.0)
    paths = _root(tmp_path, {"/etc/hostname": "db-3\n", "/etc/machine-id": MID + "\n"})
    server = tmp_path / "server" / "crash"
    server.mkdir(parents=True)
    config = dataclasses.replace(default_config().capture, target=f"ssh://crash@dumps.example{server}")
    tools = ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env=dict(os.environ))
    Saver(paths, tools, config, console=io.StringIO(), mount_deadline=0).run()
    srv = json.loads((_only(server / SPOOL_DIR) / "capture.json").read_text())
    assert (srv["hostname"], srv["machine_id"]) == ("db-3", MID)
    assert srv["dump_file"] == "vmcore.flat"
