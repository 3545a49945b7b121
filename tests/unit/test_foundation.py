"""Host paths, the tool seam, logging priorities and journal events."""

from __future__ import annotations

import io
import logging
import os
import socket
import struct
from pathlib import Path

import pytest

from crashd.core.errors import ConfigProblem, ToolError
from crashd.core.journal import MESSAGE_IDS, Journal, encode_entry
from crashd.core.log import PriorityFormatter, setup_logging, syslog_priority, under_journal
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner


def test_paths_hang_off_one_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = HostPaths(tmp_path)
    assert p.cmdline == tmp_path / "proc/cmdline"
    assert p.sysctl("kernel.panic_on_oops") == tmp_path / "proc/sys/kernel/panic_on_oops"
    assert p.crash_store == tmp_path / "var/lib/crash"
    assert p.host("/var/crash") == tmp_path / "var/crash"
    assert p.unhost(tmp_path / "etc/crashd.conf") == "/etc/crashd.conf"
    with pytest.raises(ValueError):
        p.host("relative/path")
    monkeypatch.setenv("CRASHD_ROOT", str(tmp_path))
    assert HostPaths.from_env().root == tmp_path
    assert HostPaths.from_env("/x").root == Path("/x")
    monkeypatch.delenv("CRASHD_ROOT")
    assert HostPaths.from_env().root == Path("/")


def test_tool_runner_passes_argv_without_a_shell(tmp_path: Path) -> None:
    echo = tmp_path / "argdump"
    echo.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\necho err >&2\nexit 3\n')
    echo.chmod(0o755)
    runner = ToolRunner(path=str(tmp_path) + ":/usr/bin:/bin")
    result = runner.run(["argdump", "a b", "$(touch pwned)", "; rm -rf /"])
    assert result.returncode == 3 and not result.ok
    assert result.stdout.splitlines() == ["a b", "$(touch pwned)", "; rm -rf /"]
    assert not (Path.cwd() / "pwned").exists()
    with pytest.raises(ToolError) as exc:
        runner.run(["argdump"], check=True)
    assert exc.value.returncode == 3 and "err" in str(exc.value)


def test_missing_tool_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="no-such-tool: not found on PATH"):
        ToolRunner(path=str(tmp_path)).run(["no-such-tool"])
    assert ToolRunner(path=str(tmp_path)).which("no-such-tool") is None


def test_syslog_priorities_never_python_levels() -> None:
    assert [syslog_priority(lv) for lv in (50, 40, 30, 20, 10, 5)] == [2, 3, 4, 6, 7, 7]
    rec = logging.LogRecord("crashd", logging.WARNING, __file__, 1, "two\nlines", None, None)
    assert PriorityFormatter("%(message)s").format(rec) == "<4>two\n<4>lines"


def test_journal_stream_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = (tmp_path / "stream").open("w")
    st = os.fstat(f.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    assert under_journal(f)
    setup_logging(stream=f)
    logging.getLogger("crashd.test").error("boom")
    f.flush()
    assert (tmp_path / "stream").read_text() == "<3>boom\n"
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert not under_journal(f)
    buf = io.StringIO()
    setup_logging(stream=buf)
    logging.getLogger("crashd.test").warning("plain")
    assert buf.getvalue() == "crashd: WARNING: plain\n"


def test_journal_event_over_a_real_socket(tmp_path: Path) -> None:
    sock_path = str(tmp_path / "journal.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(sock_path)
        Journal(sock_path).event("armed", "armed: 6.1.0-56-amd64", kernel="6.1.0-56-amd64", reason=None,
                                 detail="line1\nline2")
        data = server.recv(65536)
    fields = {}
    rest = data
    while rest:
        line, _, rest = rest.partition(b"\n")
        if b"=" in line:
            k, _, v = line.partition(b"=")
            fields[k.decode()] = v.decode()
        else:
            (n,) = struct.unpack("<Q", rest[:8])
            fields[line.decode()] = rest[8:8 + n].decode()
            rest = rest[8 + n + 1:]
    assert fields["MESSAGE_ID"] == MESSAGE_IDS["armed"]
    assert fields["CRASHD_KERNEL"] == "6.1.0-56-amd64"
    assert fields["CRASHD_DETAIL"] == "line1\nline2"
    assert fields["PRIORITY"] == "6" and "CRASHD_REASON" not in fields


def test_message_ids_are_distinct_128_bit() -> None:
    ids = list(MESSAGE_IDS.values())
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert encode_entry({"A": "b"}) == b"A=b\n"


def test_config_problem_format() -> None:
    assert str(ConfigProblem("/etc/crashd.conf", 3, "arm", "enabled", "bad")) == "/etc/crashd.conf:3: [arm] enabled: bad"
    assert str(ConfigProblem("/x.conf", 0, None, None, "cannot read: EACCES")) == "/x.conf: cannot read: EACCES"
