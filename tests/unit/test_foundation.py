"""Host paths, the tool seam, logging priorities and journal events."""

from __future__ import annotations

import io
import logging
import os
import re
import socket
import struct
from pathlib import Path

import pytest

from crashd.core.errors import ConfigProblem, ToolError
from crashd.core.journal import MESSAGE_IDS, Journal, encode_entry
from crashd.core.log import PriorityFormatter, setup_logging, syslog_priority, under_journal
from crashd.core.paths import HostPaths
from crashd.core.tools import SYSTEM_DIRS, ToolRunner


def test_paths_hang_off_one_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = HostPaths(tmp_path)
    assert p.cmdline == tmp_path / "proc/cmdline"
    assert p.sysctl("kernel.panic_on_oops") == tmp_path / "proc/sys/kernel/panic_on_oops"
    assert p.crash_store == tmp_path / "var/lib/crash"
    assert p.host("/var/crash") == tmp_path / "var/crash"
    assert p.host("/../../etc/shadow") == tmp_path / "etc/shadow"  # '..' never leaves the root
    assert p.host("/var/crash/../../../x") == tmp_path / "x"
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
    hostile = ["a b", f"$(touch {tmp_path}/pwned)", f"`touch {tmp_path}/pwned2`", "; rm -rf /"]
    result = runner.run(["argdump", *hostile])
    assert result.returncode == 3 and not result.ok
    assert result.stdout.splitlines() == hostile
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    # the probe can fail: the same words through a shell do create the files
    import subprocess

    subprocess.run(" ".join(["argdump", *hostile[1:3]]), shell=True, env={"PATH": runner.path}, check=False,
                   capture_output=True)
    assert (tmp_path / "pwned").exists() and (tmp_path / "pwned2").exists()
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
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    # journalctl -x explains each one: the catalog has an entry for every id
    catalog = (Path(__file__).resolve().parents[2] / "units/crashd.catalog").read_text()
    assert [name for name, i in MESSAGE_IDS.items() if f"-- {i}" not in catalog] == []
    assert encode_entry({"A": "b"}) == b"A=b\n"
    assert encode_entry({"M": "x\ny"}) == b"M\n" + struct.pack("<Q", 3) + b"x\ny\n"


def test_config_problem_format() -> None:
    assert str(ConfigProblem("/etc/crashd.conf", 3, "arm", "enabled", "bad")) == "/etc/crashd.conf:3: [arm] enabled: bad"
    assert str(ConfigProblem("/x.conf", 0, None, None, "cannot read: EACCES")) == "/x.conf: cannot read: EACCES"


# --- --root redirects tools too (issue 10 F) -------------------------------------


def fake_tool(d: Path, name: str) -> Path:
    d.mkdir(exist_ok=True)
    exe = d / name
    exe.write_text(f"#!/bin/sh\necho {name} ran \"$@\"\n")
    exe.chmod(0o755)
    return exe


def test_root_other_than_slash_never_runs_the_hosts_host_changing_tools(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    runner = ToolRunner.for_root(tmp_path / "root")
    for name in ("kexec", "systemctl", "mount", "umount", "reboot"):
        assert runner.which(name) is None
        with pytest.raises(ToolError, match=f"{name}: not run: --root is not /"):
            runner.run([name, "-p", "-u"])
    with pytest.raises(ToolError, match="not run"):
        runner.run(["/usr/bin/systemctl", "reboot"])
    assert runner.which("sh") is not None  # tools that only read run as usual
    assert runner.run(["sh", "-c", "echo hi"]).stdout == "hi\n"


def test_a_fake_tools_dir_on_path_or_given_explicitly_is_used(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tool(tmp_path / "fakes", "kexec")
    monkeypatch.setenv("PATH", f"{tmp_path / 'fakes'}:/usr/bin:/bin")
    assert ToolRunner.for_root(tmp_path / "root").run(["kexec", "-p"]).stdout == "kexec ran -p\n"
    fake_tool(tmp_path / "given", "systemctl")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    runner = ToolRunner.for_root(tmp_path / "root", str(tmp_path / "given"))
    assert runner.run(["systemctl", "reboot"]).stdout == "systemctl ran reboot\n"
    assert runner.which("kexec") is None


def test_the_real_root_runs_tools_from_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    runner = ToolRunner.for_root("/")
    assert not runner.confined and not runner.refused("systemctl")
    assert {"/usr/bin", "/usr/sbin", "/bin", "/sbin"} <= SYSTEM_DIRS


def test_disarm_under_a_root_does_not_touch_the_host(tmp_path: Path) -> None:
    from tests.fakeroot import armed_guest, build_root
    from tests.integration.cli import run_crashd

    build_root(tmp_path / "root", armed_guest())
    res = run_crashd(["disarm"], tmp_path / "root", path="/usr/sbin:/usr/bin:/sbin:/bin")
    assert res.returncode == 1
    assert "kexec: not run: --root is not /" in res.stderr + res.stdout


def test_every_way_of_running_a_tool_refuses_a_host_changing_one_under_another_root(tmp_path: Path) -> None:
    """run(), start() and pipe() share one check: a watched or piped tool is no way around it."""
    import subprocess

    from crashd.core.errors import ToolError
    from crashd.core.tools import ToolRunner

    host_bin = tmp_path / "host-bin"  # stands for the host's /usr/bin: not the given tools path
    host_bin.mkdir()
    (host_bin / "mount").write_text("#!/bin/sh\ntouch \"$0.ran\"\n")
    (host_bin / "mount").chmod(0o755)
    tools = ToolRunner(path=str(host_bin), confined=True, host_tools_path=str(tmp_path / "fakes"))
    for call in (
        lambda: tools.run(["mount"]),
        lambda: tools.start(["mount"]),
        lambda: tools.pipe(["mount"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ):
        with pytest.raises(ToolError, match="changes the host"):
            call()
    assert not (host_bin / "mount.ran").exists()
