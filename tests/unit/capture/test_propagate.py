"""``crashd propagate``: the key pair, the pinned host key, the key on the server.

The fakes in tests/fakes behave as OpenSSH's tools do where crashd looks
(ssh-keygen writes KEY 0600 + KEY.pub and refuses an existing KEY; ssh-keyscan
prints known_hosts lines, ``[host]:port`` off port 22; ssh-copy-id and ssh refuse a
host not in the given UserKnownHostsFile under StrictHostKeyChecking=yes). The
"server" is a tmp directory: the fake ssh runs the remote command locally."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from crashd.cli import main
from crashd.core.paths import HostPaths
from tests.fakeroot import build_root

FAKES = Path(__file__).resolve().parents[2] / "fakes"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[HostPaths, Path]:
    paths = build_root(tmp_path / "root", {"/etc/": ""})
    server = tmp_path / "server"
    server.mkdir()
    monkeypatch.setenv("PATH", f"{FAKES}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_SSH_AUTHORIZED", str(server / "authorized_keys"))
    monkeypatch.setenv("FAKE_SSH_LOG", str(tmp_path / "ssh.log"))
    return paths, server


def _propagate(paths: HostPaths, *args: str) -> int:
    return main(["propagate", *args, "--root", str(paths.root)])


def test_propagate_makes_the_key_pins_the_host_and_installs_the_key(env: tuple[HostPaths, Path],
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    paths, server = env
    url = f"ssh://crash@dumps.example:2222{server}/crash"
    assert _propagate(paths, url, "--yes") == 0
    key = paths.etc("crashd", "ssh", "id_ed25519")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_uid == os.geteuid()
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    known = paths.etc("crashd", "ssh", "known_hosts").read_text()
    assert known == "[dumps.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISERVERKEY\n"
    assert not paths.etc("crashd", "ssh", "known_hosts.new").exists()
    assert (server / "authorized_keys").read_text() == (key.parent / "id_ed25519.pub").read_text()
    assert (server / "crash").is_dir()  # created through ssh with the capture's own options
    out = capsys.readouterr()
    assert "SHA256:" in out.out and f"{url}: ready" in out.out
    assert "PRIVATE KEY" not in out.out + out.err  # the private key is never printed
    # ssh: refused first (the key is new), then, after ssh-copy-id, the directory check
    argvs = [json.loads(line)["argv"] for line in (server.parent / "ssh.log").read_text().splitlines()]
    assert len(argvs) == 2
    for argv in argvs:
        assert "StrictHostKeyChecking=yes" in argv and "BatchMode=yes" in argv and argv[argv.index("-p") + 1] == "2222"
    # a second run keeps the key, and the server already trusts it: no ssh-copy-id
    before = key.read_bytes()
    assert _propagate(paths, url, "--yes") == 0
    assert key.read_bytes() == before
    assert "the key is already installed on the server" in capsys.readouterr().out
    assert (server / "authorized_keys").read_text().count("ssh-ed25519") == 1


def test_unconfirmed_host_key_is_not_pinned(env: tuple[HostPaths, Path], monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    paths, server = env
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # not a terminal: nobody to confirm
    assert _propagate(paths, f"ssh://crash@dumps.example{server}") == 1
    assert "confirm the fingerprint" in capsys.readouterr().err
    ssh = paths.etc("crashd", "ssh")
    assert not (ssh / "known_hosts").exists() and not (ssh / "known_hosts.new").exists()
    assert not (server / "authorized_keys").exists()


def test_unreachable_server_is_a_clear_error(env: tuple[HostPaths, Path], monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    paths, server = env
    monkeypatch.setenv("FAKE_SSH_DOWN", "1")
    assert _propagate(paths, f"ssh://crash@dumps.example{server}", "--yes") == 1
    assert "ssh-keyscan got no host key (is sshd reachable on port 22?)" in capsys.readouterr().err
    assert not paths.etc("crashd", "ssh", "known_hosts").exists()


def test_default_target_and_non_ssh_targets(env: tuple[HostPaths, Path], capsys: pytest.CaptureFixture[str]) -> None:
    paths, server = env
    paths.etc("crashd.conf").write_text("[capture]\ntarget = nas:/export\n")
    assert _propagate(paths, "--yes") == 1
    assert "not an ssh:// target; nothing to propagate" in capsys.readouterr().err
    paths.etc("crashd.conf").write_text(f"[capture]\ntarget = ssh://crash@dumps.example{server}\n")
    assert _propagate(paths, "--yes") == 0
    assert paths.etc("crashd", "ssh", "known_hosts").read_text().startswith("dumps.example ssh-ed25519 ")
