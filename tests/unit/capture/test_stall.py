"""A collector that stops making progress is killed and the chain goes on (issue 10 A).

The fake makedumpfile hangs in a blocking read (``FAKE_MAKEDUMPFILE_HANG``), the
native copy in one too (``CRASHD_TEST_STALL_AT_BYTE``): both only end when crashd
bounds them. No timing assertions beyond "it ended"; stall timeouts are small.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from pathlib import Path

import pytest

from crashd.capture import makedumpfile as mdf
from crashd.capture.copy import copy_vmcore
from crashd.capture.layout import read_layout
from crashd.capture.progress import Progress
from crashd.capture.save import Saver
from crashd.capture.testhooks import STALL_AT_BYTE
from crashd.capture.watchdog import Stalled, Watchdog
from crashd.core.config import default_config
from crashd.core.notify import Notifier
from crashd.core.paths import HostPaths
from crashd.core.settings import CaptureConfig, setting
from crashd.core.tools import ToolRunner

from .test_save import _config, _only_dir, _run, _tools, bin_dir, root  # noqa: F401 - fixtures
from .test_spool_progress import _Clock, _drain, _receiver

FAKES = Path(__file__).resolve().parents[2] / "fakes"


def _spool_dir(paths: HostPaths) -> Path:
    from crashd.capture.spool import SPOOL_DIR

    return paths.var("crash", SPOOL_DIR)


def _record(paths: HostPaths) -> dict[str, object]:
    return json.loads((_only_dir(_spool_dir(paths)) / "capture.json").read_text())  # type: ignore[no-any-return]


# ------------------------------------------------------------ progress and systemd's timeout
def test_timeout_is_extended_only_while_bytes_advance(tmp_path: Path) -> None:
    sock, notifier = _receiver(tmp_path)
    clock = _Clock()
    p = Progress("makedumpfile -d 31", None, "/var/crash/x", notifier, io.StringIO(), clock)
    assert [m for m in _drain(sock) if m.startswith("EXTEND")] == []  # nothing moved yet
    for _ in range(30):  # 5 minutes of no progress at all
        clock.t += 10
        p.update(0)
    assert [m for m in _drain(sock) if m.startswith("EXTEND")] == []
    clock.t += 10
    p.update(4096)
    assert len([m for m in _drain(sock) if m.startswith("EXTEND")]) == 1
    for _ in range(10):
        clock.t += 10
        p.update(4096)  # stuck again at the same byte
    assert [m for m in _drain(sock) if m.startswith("EXTEND")] == []
    # Reads still moving while the output stands still (makedumpfile filtering pages).
    clock.t += 10
    p.update(4096, moved=True)
    assert len([m for m in _drain(sock) if m.startswith("EXTEND")]) == 1
    sock.close()


# ------------------------------------------------------------ the settings
def test_stall_and_time_bound_settings() -> None:
    cap = default_config().capture
    assert cap.stall_timeout == 30 and cap.max_seconds == 0  # 0: derived from the dump size
    assert setting("capture", "stall_timeout").parse("5s") == 5
    with pytest.raises(ValueError):
        setting("capture", "stall_timeout").parse("0")  # a collector must always be bounded


# ------------------------------------------------------------ makedumpfile
def test_hanging_makedumpfile_is_killed_after_stall_timeout(tmp_path: Path) -> None:
    tools = ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env={**os.environ, "FAKE_MAKEDUMPFILE_HANG": "8192"})
    vmcore = tmp_path / "vmcore"
    vmcore.write_bytes(b"\0" * 4096)
    out = tmp_path / "dump"
    ticks: list[int] = []
    result = mdf.run(
        tools, mdf.argv("lzo", 31, vmcore, out, None), out, on_tick=lambda n, moved: ticks.append(n),
        tick=0.2, stall_timeout=1.0,
    )
    assert not result.ok and not result.no_space
    assert result.stalled is not None and "no progress for 1 s" in result.stalled
    assert "8192 bytes" in result.stalled
    assert ticks and ticks[-1] == 8192


def test_makedumpfile_past_the_time_bound_is_killed(tmp_path: Path) -> None:
    import time

    tools = ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env={**os.environ, "FAKE_MAKEDUMPFILE_HANG": "0"})
    vmcore = tmp_path / "vmcore"
    vmcore.write_bytes(b"\0" * 4096)
    out = tmp_path / "dump"
    result = mdf.run(
        tools, mdf.argv("lzo", 31, vmcore, out, None), out, tick=0.2, stall_timeout=3600.0,
        deadline=time.monotonic() + 0.5,
    )
    assert not result.ok and result.stalled is not None and "time bound" in result.stalled


# ------------------------------------------------------------ the native copy
def test_copy_blocked_in_a_read_is_interrupted(root: HostPaths, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # noqa: F811
    monkeypatch.setenv(STALL_AT_BYTE, "8192")
    fd = os.open(root.vmcore, os.O_RDONLY)
    out = os.open(tmp_path / "copy", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        layout = read_layout(fd)
        with Watchdog(1.0, None) as dog, pytest.raises(Stalled, match="no progress for 1 s"):
            copy_vmcore(fd, out, layout, watchdog=dog, buf_size=4096)
    finally:
        os.close(fd)
        os.close(out)


# ------------------------------------------------------------ the whole save
def test_stalled_level_falls_back_to_the_next_level(root: HostPaths, bin_dir: Path) -> None:  # noqa: F811
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_HANG="4096", FAKE_MAKEDUMPFILE_HANG_LEVELS="1")
    outcome, console = _run(root, tools, _config(dump_level=(1, 31), stall_timeout=1))
    rec = _record(root)
    assert rec["dump_level"] == 31 and rec["collector"] == "makedumpfile"
    assert any("makedumpfile -d 1 stalled" in e and "killed" in e for e in rec["errors"])  # type: ignore[attr-defined]
    assert outcome.record["dmesg"] is True
    # Only the dump of level 31 is left: the stalled level's partial file is gone.
    assert sorted(p.name for p in _only_dir(_spool_dir(root)).iterdir()) == ["capture.json", "dmesg.txt", "vmcore.kdump"]
    assert "stalled" in console


def test_everything_stalls_dmesg_is_kept_and_the_record_says_why(
    root: HostPaths, bin_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv(STALL_AT_BYTE, "0")
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_HANG="4096")
    outcome, _ = _run(root, tools, _config(dump_level=(31, 1), stall_timeout=1))
    assert not outcome.complete
    rec = _record(root)
    assert rec["complete"] is False and rec["dmesg"] is True and rec["dump_file"] is None
    errors = "\n".join(rec["errors"])  # type: ignore[arg-type]
    assert "makedumpfile -d 31 stalled" in errors and "makedumpfile -d 1 stalled" in errors
    assert "copy stalled" in errors
    names = sorted(p.name for p in _only_dir(_spool_dir(root)).iterdir())
    assert names == ["capture.json", "dmesg.txt"]


def test_time_bound_ends_the_save_with_dmesg_only(root: HostPaths, bin_dir: Path) -> None:  # noqa: F811
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_HANG="0")
    outcome, _ = _run(root, tools, _config(dump_level=(31, 1), stall_timeout=3600, max_seconds=1))
    rec = _record(root)
    assert rec["complete"] is False and rec["dmesg"] is True
    errors = "\n".join(rec["errors"])  # type: ignore[arg-type]
    assert "time bound of 1 s" in errors
    assert "-d 1" not in errors  # no further level was tried once the bound was reached


def test_notify_extends_never_while_the_collector_is_stuck(
    root: HostPaths, bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv(STALL_AT_BYTE, "0")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = str(tmp_path / "notify")
    sock.bind(addr)
    sock.settimeout(0.2)
    msgs: list[str] = []
    done = threading.Event()

    def receive() -> None:  # a datagram queue holds only ~10 messages: keep reading
        while not done.is_set():
            try:
                msgs.extend(sock.recv(4096).decode().splitlines())
            except TimeoutError:
                continue

    reader = threading.Thread(target=receive)
    reader.start()
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_HANG="0")
    config: CaptureConfig = _config(dump_level=(31,), stall_timeout=1)
    try:
        Saver(root, tools, config, console=io.StringIO(), mount_deadline=0, notifier=Notifier(addr)).run()
    finally:
        done.set()
        reader.join()
        sock.close()
    assert any(m.startswith("STATUS=") for m in msgs)
    assert [m for m in msgs if m.startswith("EXTEND_TIMEOUT_USEC=")] == []
