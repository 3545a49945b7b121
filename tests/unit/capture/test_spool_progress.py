"""The capture directory's life cycle, makedumpfile's driver, progress reporting."""

from __future__ import annotations

import datetime as dt
import io
import os
import socket
import stat
from pathlib import Path

import pytest

from crashd.capture import makedumpfile as mdf
from crashd.capture.progress import Progress
from crashd.capture.spool import Spool
from crashd.core.errors import UnsafePathError
from crashd.core.notify import Notifier
from crashd.core.tools import ToolRunner

FAKES = Path(__file__).resolve().parents[2] / "fakes"
START = dt.datetime(2026, 11, 27, 18, 5, 9, tzinfo=dt.UTC)


def test_spool_creates_private_incomplete_dir_then_publishes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        sp = Spool.create(tmp_path, START, "0f5c3b5e")
    finally:
        os.umask(old)
    assert sp.path == tmp_path / "20261127T180509-0f5c3b5e.incomplete"
    assert stat.S_IMODE(sp.path.stat().st_mode) == 0o700
    sp.write_file("dmesg.txt", b"log\n")
    assert stat.S_IMODE((sp.path / "dmesg.txt").stat().st_mode) == 0o600
    final = sp.publish()
    sp.close()
    assert final == tmp_path / "20261127T180509-0f5c3b5e"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["20261127T180509-0f5c3b5e"]
    assert (final / "dmesg.txt").read_bytes() == b"log\n"


def test_spool_never_reuses_a_name(tmp_path: Path) -> None:
    (tmp_path / "20261127T180509-0f5c3b5e").mkdir()
    (tmp_path / "20261127T180510-0f5c3b5e.incomplete").mkdir()
    sp = Spool.create(tmp_path, START, "0f5c3b5e")
    assert sp.name == "20261127T180511-0f5c3b5e"
    sp.close()


def test_spool_refuses_existing_files_and_symlinks(tmp_path: Path) -> None:
    sp = Spool.create(tmp_path, START, "unknown0")
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, sp.path / "vmcore")
    with pytest.raises(FileExistsError):
        sp.open_new("vmcore")
    with pytest.raises(UnsafePathError, match="symlink"):
        sp.adopt("vmcore")
    assert victim.read_text() == "keep"
    sp.close()


def test_makedumpfile_features_and_compression_choice() -> None:
    tools = ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env={**os.environ, "FAKE_MAKEDUMPFILE_CODECS": "lzo"})
    feats = mdf.features(tools)
    assert feats.version == "1.7.2"
    assert feats.codecs == {"zlib", "lzo"}
    assert mdf.choose_compression("auto", feats) == ("lzo", None)
    codec, note = mdf.choose_compression("zstd", feats)
    assert codec == "lzo" and note is not None and "zstd" in note
    assert mdf.choose_compression("zlib", feats) == ("zlib", None)
    assert mdf.choose_compression("none", feats) == ("none", None)
    argv = mdf.argv("none", 31, Path("/proc/vmcore"), Path("/t/vmcore"), 1000)
    assert argv == ["makedumpfile", "-E", "-d", "31", "-L", "1000", "--message-level", "6", "/proc/vmcore", "/t/vmcore"]


def test_real_makedumpfile_version_is_parsed() -> None:
    tools = ToolRunner()
    if tools.which("makedumpfile") is None:
        pytest.skip("makedumpfile not installed")
    feats = mdf.features(tools)
    assert feats.version and feats.version[0].isdigit()
    assert "zlib" in feats.codecs


@pytest.mark.parametrize(
    "env,no_space",
    [({"FAKE_MAKEDUMPFILE_ENOSPC_LEVELS": "31"}, True), ({"FAKE_MAKEDUMPFILE_EXIT": "2"}, False)],
)
def test_makedumpfile_failure_is_classified(tmp_path: Path, env: dict[str, str], no_space: bool) -> None:
    vmcore = tmp_path / "vmcore"
    vmcore.write_bytes(b"x")
    tools = ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env={**os.environ, **env})
    out = tmp_path / "out"
    result = mdf.run(tools, mdf.argv("lzo", 31, vmcore, out, None), out)
    assert not result.ok
    assert result.no_space is no_space
    assert ("No space" in result.message) is no_space


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _receiver(tmp_path: Path) -> tuple[socket.socket, Notifier]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = str(tmp_path / "notify")
    sock.bind(addr)
    sock.setblocking(False)
    return sock, Notifier(addr)


def _drain(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out += sock.recv(4096).decode().splitlines()
        except BlockingIOError:
            return out


def test_progress_console_every_ten_percent_and_status(tmp_path: Path) -> None:
    sock, notifier = _receiver(tmp_path)
    console = io.StringIO()
    clock = _Clock()
    p = Progress("copy", 1000 << 20, "/var/crash/x", notifier, console, clock)
    msgs: list[str] = []
    for step in range(1, 101):
        clock.t += 0.5
        p.update(step * (10 << 20))
        msgs += _drain(sock)  # a datagram queue holds only ~10 messages
    p.finish(1000 << 20)
    msgs += _drain(sock)
    lines = console.getvalue().splitlines()
    deciles = [ln for ln in lines if "%" in ln]
    assert [int(ln.split(": ")[2].split("%")[0]) for ln in deciles] == list(range(10, 100, 10))
    assert "1048576000 bytes" in lines[-1] and "/var/crash/x" in lines[-1]
    assert any(m.startswith("STATUS=copy: ") and "MB/s" in m for m in msgs)
    extends = [m for m in msgs if m.startswith("EXTEND_TIMEOUT_USEC=")]
    # 50 s of copying with a ping every 10 s, plus the one at the start.
    assert 5 <= len(extends) <= 7
    sock.close()


def test_progress_without_total_still_reports(tmp_path: Path) -> None:
    console = io.StringIO()
    clock = _Clock()
    p = Progress("makedumpfile -d 31", None, "/var/crash/x", None, console, clock)
    for step in range(1, 7):
        clock.t += 10
        p.update(step << 20)
    assert len([ln for ln in console.getvalue().splitlines() if "MiB" in ln]) == 3  # at 20, 40 and 60 s
