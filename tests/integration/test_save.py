"""``crashd save`` as a subprocess against a fake root: actions, failures, a real ENOSPC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crashd.capture.spool import SPOOL_DIR
from crashd.core.paths import HostPaths
from tests.fakeroot import build_root
from tests.unit.capture.elfcore import PAGE, Load, pattern, write_core

REPO = Path(__file__).resolve().parents[2]
FAKES = REPO / "tests" / "fakes"
BOOT_ID = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"
RECORDER = """#!/bin/sh
echo "{cmd} $*" >> "{log}"
exit ${{FAKE_{var}_EXIT:-0}}
"""


def make_root(base: Path, conf: str, vmcore: bool = True) -> HostPaths:
    paths = build_root(
        base / "root",
        {
            "/proc/cmdline": f"console=ttyS0 nr_cpus=1 crashd.boot_id={BOOT_ID}\n",
            "/var/crash/": "",
            "/etc/crashd.conf": conf,
        },
    )
    if vmcore:
        write_core(paths.vmcore, [Load(256 * PAGE, pages=pattern(3)), Load(64 * PAGE)], release="6.1.0-56-amd64")
    return paths


def make_bin(base: Path) -> Path:
    d = base / "bin"
    d.mkdir(exist_ok=True)
    for name in ("systemctl", "mount", "umount"):
        exe = d / name
        exe.write_text(RECORDER.format(cmd=name, log=base / "calls", var=name.upper()))
        exe.chmod(0o755)
    return d


def run_save(
    paths: HostPaths, bin_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM", "INVOCATION_ID")},
        "PATH": f"{bin_dir}:{FAKES}:/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "CRASHD_ROOT": str(paths.root),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "crashd", "save", *args],
        capture_output=True, text=True, env=full_env, timeout=300, cwd=REPO,
    )


def calls(base: Path) -> list[str]:
    f = base / "calls"
    return f.read_text().splitlines() if f.exists() else []


def test_save_then_final_action(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "[capture]\ncollector = copy\nfinal_action = poweroff\n")
    r = run_save(paths, make_bin(tmp_path), "--act")
    assert r.returncode == 0, r.stderr
    dirs = list(paths.var("crash", SPOOL_DIR).iterdir())
    assert len(dirs) == 1 and dirs[0].name.endswith("-0f5c3b5e")
    rec = json.loads((dirs[0] / "capture.json").read_text())
    assert rec["complete"] is True and rec["collector"] == "copy"
    assert calls(tmp_path) == ["systemctl --no-block poweroff"]
    assert "copy: 10%" in r.stdout and "copy done" in r.stdout
    assert f"saved: {dirs[0]}" in r.stdout


def test_failed_save_ends_in_failure_action(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "[capture]\ntarget = /missing/dir\nfailure_action = halt\n")
    r = run_save(paths, make_bin(tmp_path), "--act")
    assert r.returncode == 0, r.stderr
    assert "capture target /missing/dir: directory does not exist" in r.stdout
    assert calls(tmp_path) == ["systemctl --no-block halt"]
    (d,) = paths.var("crash", SPOOL_DIR).iterdir()  # the kernel log, on the root file system
    assert sorted(p.name for p in d.iterdir()) == ["capture.json", "dmesg.txt"]


def test_unmountable_device_ends_in_failure_action(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "[capture]\ntarget = LABEL=debug\nfailure_action = shell\n")
    r = run_save(paths, make_bin(tmp_path), "--act", env={"FAKE_MOUNT_EXIT": "32", "CRASHD_TEST_MOUNT_DEADLINE": "0"})
    assert "capture target LABEL=debug: cannot mount" in r.stdout
    assert calls(tmp_path)[-1] == "systemctl --no-block start emergency.target"
    assert r.returncode == 0
    # Issue 10 F: dmesg.txt and capture.json (naming the mount error) on the root file system.
    (d,) = paths.var("crash", SPOOL_DIR).iterdir()
    rec = json.loads((d / "capture.json").read_text())
    assert rec["complete"] is False and rec["dmesg"] is True and (d / "dmesg.txt").read_text() == "fake dmesg\n"
    assert any("capture target LABEL=debug: cannot mount" in e for e in rec["errors"])


def test_action_refused_makes_the_unit_fail(tmp_path: Path) -> None:
    """systemctl refused: exit 1, so the unit's FailureAction=reboot-force takes over."""
    paths = make_root(tmp_path, "[capture]\ncollector = copy\n")
    r = run_save(paths, make_bin(tmp_path), "--act", env={"FAKE_SYSTEMCTL_EXIT": "1"})
    assert r.returncode == 1
    assert "could not request reboot" in r.stdout


def test_broken_config_still_saves_with_defaults(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "[capture]\ncollector = copy\nfinal_action = explode\n")
    r = run_save(paths, make_bin(tmp_path), "--act")
    assert "config problem (default used)" in r.stdout and "final_action" in r.stdout
    assert calls(tmp_path) == ["systemctl --no-block reboot"]
    assert json.loads(next(paths.var("crash", SPOOL_DIR).iterdir()).joinpath("capture.json").read_text())["complete"]


def test_no_vmcore_is_not_applicable(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "", vmcore=False)
    r = run_save(paths, make_bin(tmp_path), "--act")
    assert r.returncode == 3
    assert calls(tmp_path) == []
    assert list(paths.var("crash").iterdir()) == []


def test_json_output_without_act(tmp_path: Path) -> None:
    paths = make_root(tmp_path, "[capture]\ncollector = copy\n")
    r = run_save(paths, make_bin(tmp_path), "--json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["version"] == 1 and out["capture"]["complete"] is True
    assert calls(tmp_path) == []


@pytest.fixture
def small_tmpfs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 6 MiB tmpfs at <root>/var/crash (needs root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    target = tmp_path / "root" / "var" / "crash"
    target.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(target)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
    yield target
    subprocess.run(["umount", str(target)], check=True)


def test_real_makedumpfile_enospc_on_small_tmpfs(tmp_path: Path, small_tmpfs: Path, reference_elf: Path) -> None:
    """The real reference dump (98 MiB ELF, 22 MiB with lzo -d 31) against a 6 MiB
    target: makedumpfile stops at the budget, the chain ends with dmesg only, and
    the capture that was already there is untouched."""
    makedumpfile = shutil.which("makedumpfile")
    if makedumpfile is None:
        pytest.skip("makedumpfile not installed")
    paths = make_root(tmp_path, "[capture]\ndump_level = 31 1\nmin_free = 1M\nfailure_action = poweroff\n", vmcore=False)
    shutil.copyfile(reference_elf, paths.vmcore)
    old = small_tmpfs / SPOOL_DIR / "20250101T000000-aaaaaaaa"
    old.mkdir(parents=True)
    (old / "dmesg.txt").write_text("older crash\n")
    bin_dir = make_bin(tmp_path)
    (bin_dir / "makedumpfile").symlink_to(makedumpfile)  # the real one, ahead of the fake
    r = run_save(paths, bin_dir, "--act")
    assert r.returncode == 0, r.stderr
    assert calls(tmp_path) == ["systemctl --no-block poweroff"]
    new = [p for p in (small_tmpfs / SPOOL_DIR).iterdir() if p != old]
    assert len(new) == 1 and not new[0].name.endswith(".incomplete")
    rec = json.loads((new[0] / "capture.json").read_text())
    assert rec["complete"] is False and rec["collector"] == "dmesg-only"
    assert rec["dmesg"] is True
    assert "Kernel panic - not syncing: sysrq triggered crash" in (new[0] / "dmesg.txt").read_text()
    assert [e for e in rec["errors"] if "ENOSPC" in e and "-d 31" in e]
    assert sorted(p.name for p in new[0].iterdir()) == ["capture.json", "dmesg.txt"]
    assert (old / "dmesg.txt").read_text() == "older crash\n"
    assert "ENOSPC" in r.stdout


def test_progress_reaches_systemd_over_notify_socket(tmp_path: Path) -> None:
    """A real AF_UNIX datagram socket as NOTIFY_SOCKET: the unit gets STATUS= with
    percent and MB/s, and EXTEND_TIMEOUT_USEC= while the copy runs."""
    import socket
    import threading

    paths = make_root(tmp_path, "[capture]\ncollector = copy\n")
    addr = str(tmp_path / "notify")
    lines: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(addr)

        def receive() -> None:  # drain as systemd would: a datagram queue holds ~10
            while True:
                data = sock.recv(65536)
                if data == b"END":
                    return
                lines.extend(data.decode().splitlines())

        receiver = threading.Thread(target=receive)
        receiver.start()
        r = run_save(paths, make_bin(tmp_path), env={"NOTIFY_SOCKET": addr})
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"END", addr)
        receiver.join()
        assert r.returncode == 0, r.stderr
    assert any(ln.startswith("EXTEND_TIMEOUT_USEC=") for ln in lines)
    assert any(ln.startswith("STATUS=copy: ") and "%" in ln and "MB/s" in ln for ln in lines)
    assert lines[-1].startswith("STATUS=saved: ")


def test_stalled_collectors_end_in_failure_action(tmp_path: Path) -> None:
    """Issue 10 A, as the unit runs it: makedumpfile writes a little, then hangs at
    every level; the native copy blocks in its first read. ``crashd save --act`` still
    ends, keeps dmesg.txt, says complete: false naming each stall, requests
    failure_action, and extends systemd's timeout only while bytes moved."""
    import socket
    import threading

    paths = make_root(
        tmp_path, "[capture]\ndump_level = 31 1\nstall_timeout = 2s\nfailure_action = poweroff\n"
    )
    addr = str(tmp_path / "notify")
    lines: list[str] = []
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(addr)

        def receive() -> None:
            while True:
                data = sock.recv(65536)
                if data == b"END":
                    return
                lines.extend(data.decode().splitlines())

        receiver = threading.Thread(target=receive)
        receiver.start()
        env = {"NOTIFY_SOCKET": addr, "FAKE_MAKEDUMPFILE_HANG": "4096", "CRASHD_TEST_STALL_AT_BYTE": "0"}
        try:
            r = run_save(paths, make_bin(tmp_path), "--act", env=env)  # (run_save's timeout: it ended)
        finally:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as tx:
                tx.sendto(b"END", addr)
            receiver.join()
    assert r.returncode == 0, r.stdout + r.stderr
    assert calls(tmp_path) == ["systemctl --no-block poweroff"]
    (d,) = paths.var("crash", SPOOL_DIR).iterdir()
    assert not d.name.endswith(".incomplete")
    assert sorted(p.name for p in d.iterdir()) == ["capture.json", "dmesg.txt"]
    rec = json.loads((d / "capture.json").read_text())
    assert rec["complete"] is False and rec["dump_file"] is None
    errors = "\n".join(rec["errors"])
    assert "makedumpfile -d 31 stalled: no progress for 2 s" in errors
    assert "makedumpfile -d 1 stalled" in errors and "copy stalled" in errors
    # One extension at most per makedumpfile run that moved bytes; none while stuck.
    extends = [ln for ln in lines if ln.startswith("EXTEND_TIMEOUT_USEC=")]
    assert 1 <= len(extends) <= 2, lines
