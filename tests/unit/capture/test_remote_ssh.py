"""The save over ssh, against a fake ssh whose "server" is a tmp dir: the
directory contract on the server, the local record, retries, the fallback."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
from pathlib import Path

import pytest

from crashd.capture import remote_ssh
from crashd.capture.remote_ssh import SshOptions, SshSpool, ssh_argv
from crashd.capture.save import Saver
from crashd.capture.spool import SPOOL_DIR
from crashd.core.config import default_config
from crashd.core.paths import HostPaths
from crashd.core.remote import SshTarget, parse_remote
from crashd.core.settings import CaptureConfig
from crashd.core.tools import ToolRunner
from tests.fakeroot import build_root

from .elfcore import PAGE, Load, pattern, write_core

FAKES = Path(__file__).resolve().parents[2] / "fakes"
BOOT_ID = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"


@pytest.fixture
def root(tmp_path: Path) -> HostPaths:
    paths = build_root(
        tmp_path / "root",
        {
            "/proc/cmdline": f"console=ttyS0 crashd.boot_id={BOOT_ID}\n",
            "/var/crash/": "",
            "/etc/crashd/ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n",
            "/etc/crashd/ssh/known_hosts": "dumps.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKE\n",
        },
    )
    write_core(paths.vmcore, [Load(64 * PAGE, pages=pattern(1)), Load(32 * PAGE)], release="6.1.0-56-amd64")
    return paths


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_ssh, "RETRY_PAUSE", 0.0)


@pytest.fixture
def server(tmp_path: Path) -> Path:
    d = tmp_path / "server" / "crash"
    d.mkdir(parents=True)
    return d


def _tools(tmp_path: Path, **env: str) -> ToolRunner:
    return ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env={**os.environ, "FAKE_SSH_LOG": str(tmp_path / "ssh.log"),
                                                          "FAKE_SSH_COUNTER": str(tmp_path / "ssh.count"), **env})


def _config(server: Path, **changes: object) -> CaptureConfig:
    return dataclasses.replace(default_config().capture, target=f"ssh://crash@dumps.example{server}",
                               **changes)  # type: ignore[arg-type]


def _run(root: HostPaths, tools: ToolRunner, config: CaptureConfig):  # type: ignore[no-untyped-def]
    console = io.StringIO()
    outcome = Saver(root, tools, config, console=console, mount_deadline=0).run()
    return outcome, console.getvalue()


def _only_dir(parent: Path) -> Path:
    dirs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_dump_lands_on_the_server_with_the_spool_contract(root: HostPaths, server: Path, tmp_path: Path) -> None:
    outcome, console = _run(root, _tools(tmp_path), _config(server))
    remote = _only_dir(server / SPOOL_DIR)
    assert remote.name.endswith(f"-{BOOT_ID[:8]}") and not remote.name.endswith(".incomplete")
    assert sorted(p.name for p in remote.iterdir()) == ["capture.json", "dmesg.txt", "vmcore.flat"]
    assert stat.S_IMODE(remote.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in remote.iterdir())
    assert (remote / "vmcore.flat").read_bytes().startswith(b"makedumpfile")
    srv = json.loads((remote / "capture.json").read_text())
    assert srv["dump_file"] == "vmcore.flat" and srv["complete"] is True
    # The local record: same name, dmesg and capture.json, no dump, where the dump lives.
    local = _only_dir(root.var("crash", SPOOL_DIR))
    assert local.name == remote.name
    assert sorted(p.name for p in local.iterdir()) == ["capture.json", "dmesg.txt"]
    assert (local / "dmesg.txt").read_bytes() == (remote / "dmesg.txt").read_bytes()
    rec = json.loads((local / "capture.json").read_text())
    assert rec["remote_location"] == f"ssh://crash@dumps.example{server}/crashd/{remote.name}/vmcore.flat"
    assert rec["complete"] is True and rec["dump_file"] is None and rec["errors"] == []
    assert outcome.complete
    assert "-----BEGIN" not in (local / "capture.json").read_text() + console
    # ssh: argv only, strict, batch, pinned host key, the dedicated key.
    calls = [json.loads(line)["argv"] for line in (tmp_path / "ssh.log").read_text().splitlines()]
    for argv in calls:
        assert "BatchMode=yes" in argv and "StrictHostKeyChecking=yes" in argv
        assert f"UserKnownHostsFile={root.etc('crashd/ssh/known_hosts')}" in argv
        assert argv[argv.index("-i") + 1] == str(root.etc("crashd/ssh/id_ed25519"))
        assert argv[-2] == "crash@dumps.example"


def test_connection_failures_are_retried(root: HostPaths, server: Path, tmp_path: Path) -> None:
    outcome, _ = _run(root, _tools(tmp_path, FAKE_SSH_FAIL_TIMES="3"), _config(server))
    assert outcome.complete
    assert _only_dir(server / SPOOL_DIR).name.endswith(BOOT_ID[:8])
    assert int((tmp_path / "ssh.count").read_text()) == 3 + 5  # 3 refused; mkdir, dmesg, dump, capture.json, mv


def test_server_down_falls_back_to_the_local_dump(root: HostPaths, server: Path, tmp_path: Path) -> None:
    outcome, _ = _run(root, _tools(tmp_path, FAKE_SSH_DOWN="1"), _config(server))
    local = _only_dir(root.var("crash", SPOOL_DIR))
    assert sorted(p.name for p in local.iterdir()) == ["capture.json", "dmesg.txt", "vmcore.kdump"]
    rec = json.loads((local / "capture.json").read_text())
    assert rec["complete"] is True and "remote_location" not in rec
    assert any("Connection refused" in e and "ssh failed 16 times" in e for e in rec["errors"])
    assert not (server / SPOOL_DIR).exists()
    # complete refers to the local dump; the save says the remote step failed.
    assert outcome.complete


def test_unknown_host_key_is_never_accepted(root: HostPaths, server: Path, tmp_path: Path) -> None:
    root.etc("crashd/ssh/known_hosts").write_text("other.host ssh-ed25519 AAAA\n")
    _, _ = _run(root, _tools(tmp_path), _config(server))
    rec = json.loads((_only_dir(root.var("crash", SPOOL_DIR)) / "capture.json").read_text())
    assert any("Host key verification failed" in e for e in rec["errors"])
    assert rec["dump_file"] == "vmcore.kdump"
    assert int((tmp_path / "ssh.count").read_text()) == 1  # not retried: no retry can fix it


def test_failing_collector_removes_nothing_and_falls_back(root: HostPaths, server: Path, tmp_path: Path) -> None:
    _run(root, _tools(tmp_path, FAKE_MAKEDUMPFILE_EXIT="1"), _config(server, collector="auto"))
    rec = json.loads((_only_dir(root.var("crash", SPOOL_DIR)) / "capture.json").read_text())
    assert any("streaming the dump failed" in e for e in rec["errors"])
    # The server keeps the .incomplete directory with dmesg.txt: an interrupted capture.
    remote = _only_dir(server / SPOOL_DIR)
    assert remote.name.endswith(".incomplete") and (remote / "dmesg.txt").exists()


def test_existing_file_on_the_server_is_not_written_through(server: Path, tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("k")
    known = tmp_path / "kh"
    known.write_text("h ssh-ed25519 AAAA\n")
    target = parse_remote(f"ssh://u@h{server}")
    assert isinstance(target, SshTarget)
    import time

    spool = SshSpool(_tools(tmp_path), target, SshOptions(key, known), deadline=time.monotonic() + 30)
    spool.create("20260101T000000-0f5c3b5e")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, Path(spool.incomplete) / "dmesg.txt")
    from crashd.capture.remote_ssh import RemoteError

    with pytest.raises(RemoteError, match="failed on the server"):
        spool.write_file("dmesg.txt", "x")
    assert victim.read_text() == "keep"
    with pytest.raises(RemoteError, match="failed on the server"):
        spool.create("20260101T000000-0f5c3b5e")  # never shared with another capture


def test_remote_command_is_one_quoted_argument(tmp_path: Path) -> None:
    target = SshTarget("u", "h", 2222, "/srv/a+b")
    argv = ssh_argv(target, SshOptions(tmp_path / "k", tmp_path / "kh"), "true")
    assert argv[0] == "ssh" and argv[-1] == "true" and argv[argv.index("-p") + 1] == "2222"
    assert "ConnectTimeout=10" in argv and "ServerAliveInterval=5" in argv
