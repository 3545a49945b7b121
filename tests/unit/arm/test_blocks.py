"""Panic policy, sd_notify, hotplug filtering, file watch and the arm state file."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from crashd.arm.armstate import (
    ArmState,
    clear_hold,
    daemon_pid,
    held,
    read_state,
    set_hold,
    state_path,
    write_pid,
    write_state,
)
from crashd.arm.hotplug import HotplugEvent, PipeSource, relevant
from crashd.arm.panic_policy import PanicPolicy, post_notifiers, read_sysctl
from crashd.arm.watch import FileWatch
from crashd.core.config import default_config
from crashd.core.notify import Notifier, socket_address, watchdog_interval
from tests.fakeroot import unarmed_guest
from tests.unit.arm.helpers import NotifyReceiver, make_root

# --- panic policy -----------------------------------------------------------


def test_policy_applies_remembers_and_restores(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    paths.sysctl("kernel.panic_on_oops").write_text("0\n")
    cfg = replace(default_config().panic, on_oops=True, softlockup=True, timeout=30)
    policy = PanicPolicy(paths)
    changes = policy.apply(cfg)
    assert {c.name for c in changes} == {"kernel.panic_on_oops", "kernel.softlockup_panic", "kernel.panic"}
    assert read_sysctl(paths, "kernel.panic_on_oops") == "1"
    assert read_sysctl(paths, "kernel.panic") == "30"
    assert policy.pending_originals() == {"kernel.panic_on_oops": "0", "kernel.softlockup_panic": "0",
                                          "kernel.panic": "5"}
    policy.restore()
    assert [read_sysctl(paths, n) for n in ("kernel.panic_on_oops", "kernel.softlockup_panic", "kernel.panic")] == [
        "0", "0", "5"]


def test_policy_keep_leaves_values_and_reload_to_keep_restores(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    keep_all = replace(default_config().panic, on_oops=None)
    policy = PanicPolicy(paths)
    assert policy.apply(keep_all) == []
    policy.apply(replace(keep_all, on_warn=True))
    assert read_sysctl(paths, "kernel.panic_on_warn") == "1"
    policy.apply(keep_all)  # SIGHUP with on_warn back to keep
    assert read_sysctl(paths, "kernel.panic_on_warn") == "0"


def test_restore_does_not_clobber_an_administrators_change(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    policy = PanicPolicy(paths)
    policy.apply(replace(default_config().panic, on_warn=True))
    paths.sysctl("kernel.panic_on_warn").write_text("0\n")  # someone ran sysctl -w
    paths.sysctl("kernel.panic_on_warn").write_text("1\n")
    paths.sysctl("kernel.panic").write_text("77\n")
    policy.apply(replace(default_config().panic, on_warn=True, timeout=20))
    paths.sysctl("kernel.panic").write_text("99\n")  # changed after crashd set 20
    policy.restore()
    assert read_sysctl(paths, "kernel.panic") == "99"
    assert read_sysctl(paths, "kernel.panic_on_warn") == "0"


def test_a_failed_restore_keeps_the_original_for_the_next_try(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    paths.sysctl("kernel.panic_on_oops").write_text("0\n")
    policy = PanicPolicy(paths)
    policy.apply(default_config().panic)  # on_oops = yes: 0 -> 1
    assert policy.pending_originals() == {"kernel.panic_on_oops": "0"}
    sysctl = paths.sysctl("kernel.panic_on_oops")
    # the write fails, even for root: a symlink reads as "1" but write_sysctl refuses it
    (tmp_path / "elsewhere").write_text("1\n")
    sysctl.unlink()
    sysctl.symlink_to(tmp_path / "elsewhere")
    [change] = policy.restore()
    assert change.error
    assert policy.pending_originals() == {"kernel.panic_on_oops": "0"}  # not dropped
    sysctl.unlink()
    sysctl.write_text("1\n")
    [change] = policy.restore()
    assert change.error is None and read_sysctl(paths, "kernel.panic_on_oops") == "0"
    assert policy.pending_originals() == {}


def test_missing_sysctl_is_reported_not_created(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    paths.sysctl("kernel.hardlockup_panic").unlink()
    changes = PanicPolicy(paths).apply(replace(default_config().panic, hardlockup=True))
    assert [c.error for c in changes if c.name == "kernel.hardlockup_panic"] == ["not present in this kernel"]
    assert not paths.sysctl("kernel.hardlockup_panic").exists()


def test_post_notifiers_reported(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    assert post_notifiers(paths) is False
    paths.sys("module", "kernel", "parameters", "crash_kexec_post_notifiers").write_text("Y\n")
    assert post_notifiers(paths) is True
    paths.sys("module", "kernel", "parameters", "crash_kexec_post_notifiers").unlink()
    assert post_notifiers(paths) is None


# --- sd_notify --------------------------------------------------------------


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_reaches_a_real_socket(tmp_path: Path, abstract: bool) -> None:
    rx = NotifyReceiver(tmp_path, abstract=abstract)
    n = Notifier.from_env({"NOTIFY_SOCKET": rx.name})
    assert n.send("READY=1", "STATUS=armed: x")
    assert rx.receive(5) == {"READY": "1", "STATUS": "armed: x"}
    assert n.status("armed: x") and rx.receive(0.05) is None  # unchanged status not resent
    n.status("not armed: y")
    assert rx.receive(5) == {"STATUS": "not armed: y"}
    n.close()
    rx.close()


def test_notify_without_socket_is_a_no_op() -> None:
    n = Notifier.from_env({})
    assert not n.enabled and n.send("READY=1") is False
    assert socket_address("@x") == b"\0x" and socket_address("/run/x") == "/run/x"


def test_watchdog_interval() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}, pid=5) == 5.0
    assert watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "6"}, pid=5) is None
    assert watchdog_interval({}, pid=5) is None


# --- hotplug ----------------------------------------------------------------


def test_pipe_source_delivers_events_in_order() -> None:
    src = PipeSource()
    for i in range(100):
        src.inject("cpu", "online", f"cpu{i}")
    events = src.drain()
    assert len(events) == 100 and events[7] == HotplugEvent("cpu", "online", "cpu7")
    assert src.drain() == []
    src.close()


def test_relevant_skips_subsystems_the_kernel_handles(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    events = [HotplugEvent("cpu", "online", "cpu1"), HotplugEvent("memory", "offline", "memory32"),
              HotplugEvent("cpu", "change", "cpu1")]
    assert relevant(events, paths) == events[:2]
    paths.sys("devices", "system", "cpu", "crash_hotplug").write_text("1\n")
    assert relevant(events, paths) == [events[1]]


# --- file watch -------------------------------------------------------------


def test_watch_sees_touch_replace_and_removal(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"1")
    b.write_bytes(b"2")
    w = FileWatch([a, b])
    assert w.news() == [] and w.files == [a, b]
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert w.news() == [a] and w.news() == []  # reported once per change
    w.reset([a, b])
    new = tmp_path / "b.new"
    new.write_bytes(b"2")
    new.rename(b)  # a package manager's replace-by-rename, same size
    assert w.news() == [b]
    w.reset([a, b])
    a.unlink()
    assert w.news() == [a]


# --- arm state --------------------------------------------------------------


def test_state_round_trip_is_atomic(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    assert read_state(paths) is None
    s = ArmState(armed=True, kernel="/boot/vmlinuz", cmdline="a b", since="2026-01-01T00:00:00+00:00",
                 reason="start", argv=["kexec", "-p"], sysctl_originals={"kernel.panic": "0"})
    write_state(paths, s)
    got = read_state(paths)
    assert got is not None and replace(got, updated=None, pid=None) == s
    assert [p.name for p in paths.state_dir.iterdir()] == ["state.json"]


def test_unreadable_or_foreign_state_is_none(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    paths.state_dir.mkdir(parents=True)
    state_path(paths).write_text("{not json")
    assert read_state(paths) is None
    state_path(paths).write_text('{"schema": 99, "armed": true}')
    assert read_state(paths) is None


def test_hold_and_pid_file(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    assert not held(paths)
    set_hold(paths, "crashd disarm")
    assert held(paths) and clear_hold(paths) and not held(paths)
    write_pid(paths)
    # our own pid is a pytest process, not `crashd daemon`: never signalled
    assert daemon_pid(paths) is None


def _sleeper(tmp_path: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A real process with a crashd daemon's argv shape (``/bin/sh …/crashd [--root X] daemon``,
    as ``/usr/bin/python3 /usr/bin/crashd daemon`` runs in production)."""
    script = tmp_path / "bin" / "crashd"
    script.parent.mkdir(exist_ok=True)
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    return subprocess.Popen([str(script), *argv], env={"PATH": "/usr/bin:/bin", **(env or {})},
                            start_new_session=True)


@pytest.mark.parametrize(("argv", "env", "same"), [
    (("--root", "{root}", "daemon"), None, True),
    (("--root={root}", "daemon"), None, True),
    (("daemon",), {"CRASHD_ROOT": "{root}"}, True),
    (("daemon",), None, False),  # the host's own daemon: a fake root's disarm never signals it
    (("--root", "{other}", "daemon"), None, False),
])
def test_only_the_daemon_of_the_same_root_is_signalled(tmp_path: Path, argv: tuple[str, ...],
                                                       env: dict[str, str] | None, same: bool) -> None:
    paths = make_root(tmp_path / "root", unarmed_guest())
    fill = {"root": str(paths.root), "other": str(tmp_path / "other")}
    proc = _sleeper(tmp_path, *(a.format(**fill) for a in argv),
                    env={k: v.format(**fill) for k, v in (env or {}).items()})
    try:
        write_pid(paths)
        (paths.state_dir / "daemon.pid").write_text(f"{proc.pid}\n")
        assert daemon_pid(paths) == (proc.pid if same else None)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
