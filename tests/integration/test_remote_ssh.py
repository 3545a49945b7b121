"""``crashd save`` to a REAL sshd on 127.0.0.1 (a throwaway config, host key and
authorized key in a tmp dir; loopback only): the dump lands on the server with
the spool's directory contract, through the real OpenSSH client with the pinned
host key. Skipped only when sshd/ssh are not installed (tests/run installs them)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashd.capture.spool import SPOOL_DIR
from tests.integration.test_save import FAKES, make_bin, make_root, run_save

SSHD = shutil.which("sshd", path="/usr/sbin:/usr/bin:/sbin")
pytestmark = pytest.mark.skipif(
    SSHD is None or shutil.which("ssh") is None or os.geteuid() != 0,
    reason="needs openssh-server and openssh-client (tests/run installs them) and root for sshd",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """(port, client key, known_hosts with the server's pinned key)."""
    d = tmp_path / "sshd"
    d.mkdir(mode=0o700)
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = _free_port()
    (d / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {d / 'host_key'}\nAuthorizedKeysFile {d / 'authorized_keys'}\n"
        f"PidFile {d / 'pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE)
    try:
        known = ""
        for _ in range(100):  # wait until it listens (a poll, not a timed assertion)
            r = subprocess.run(["ssh-keyscan", "-p", str(port), "-t", "ed25519", "127.0.0.1"],
                               capture_output=True, text=True)
            if r.stdout.strip():
                known = r.stdout
                break
            time.sleep(0.1)
        assert known, "sshd did not come up"
        (d / "known_hosts").write_text(known)
        yield port, d / "client_key", d / "known_hosts"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dump_lands_on_a_real_sshd(tmp_path: Path, sshd: tuple[int, Path, Path]) -> None:
    port, key, known = sshd
    server = tmp_path / "server"
    server.mkdir()
    paths = make_root(tmp_path, f"[capture]\ntarget = ssh://root@127.0.0.1:{port}{server}\n")
    ssh_dir = paths.etc("crashd", "ssh")
    ssh_dir.mkdir(parents=True, mode=0o700)
    shutil.copy(key, ssh_dir / "id_ed25519")
    (ssh_dir / "id_ed25519").chmod(0o600)
    shutil.copy(known, ssh_dir / "known_hosts")
    bin_dir = make_bin(tmp_path)
    (bin_dir / "makedumpfile").symlink_to(FAKES / "makedumpfile")  # the fake collector, the REAL ssh
    r = run_save(paths, bin_dir, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert r.returncode == 0, r.stdout + r.stderr
    dirs = list((server / SPOOL_DIR).iterdir())
    assert len(dirs) == 1 and dirs[0].name.endswith("-0f5c3b5e"), dirs
    remote = dirs[0]
    assert sorted(p.name for p in remote.iterdir()) == ["capture.json", "dmesg.txt", "vmcore.flat"]
    assert (remote / "vmcore.flat").read_bytes().startswith(b"makedumpfile")
    assert (remote / "dmesg.txt").stat().st_size > 0
    assert oct(remote.stat().st_mode & 0o777) == "0o700"
    local = [p for p in paths.var("crash", SPOOL_DIR).iterdir()]
    assert [p.name for p in local] == [remote.name]
    rec = json.loads((local[0] / "capture.json").read_text())
    assert rec["remote_location"] == f"ssh://root@127.0.0.1:{port}{server}/crashd/{remote.name}/vmcore.flat"
    assert rec["complete"] is True and rec["errors"] == []


def test_unpinned_host_key_falls_back_locally(tmp_path: Path, sshd: tuple[int, Path, Path]) -> None:
    port, key, _known = sshd
    server = tmp_path / "server"
    server.mkdir()
    paths = make_root(tmp_path, f"[capture]\ntarget = ssh://root@127.0.0.1:{port}{server}\n")
    ssh_dir = paths.etc("crashd", "ssh")
    ssh_dir.mkdir(parents=True, mode=0o700)
    shutil.copy(key, ssh_dir / "id_ed25519")
    (ssh_dir / "id_ed25519").chmod(0o600)
    (ssh_dir / "known_hosts").write_text("")  # nothing pinned: no trust on first use
    bin_dir = make_bin(tmp_path)
    (bin_dir / "makedumpfile").symlink_to(FAKES / "makedumpfile")
    run_save(paths, bin_dir, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert not (server / SPOOL_DIR).exists()
    local = list(paths.var("crash", SPOOL_DIR).iterdir())
    rec = json.loads((local[0] / "capture.json").read_text())
    assert rec["dump_file"] == "vmcore.kdump"
    assert any("Host key verification failed" in e and "propagate" in e for e in rec["errors"])
