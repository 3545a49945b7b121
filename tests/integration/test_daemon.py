"""``crashd daemon`` as systemd runs it: a subprocess, a real notify socket, a fake root.

Every wait is on an sd_notify message (with a timeout), never a sleep. The fake
``kexec`` (tests/fakes) is first on PATH; it records argv and flips
``kexec_crash_loaded`` in the fake root.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashd.arm.armstate import read_state
from crashd.arm.kexec import crash_loaded
from crashd.arm.panic_policy import read_sysctl
from crashd.core.paths import HostPaths
from tests.fakeroot import GUEST_IOMEM, RELEASE, dev_machine, unarmed_guest
from tests.integration.cli import REPO, run_crashd
from tests.unit.arm.helpers import FAKES, NotifyReceiver, fake_env, kexec_calls, loads, make_root

TIMEOUT = 30.0


class RunningDaemon:
    def __init__(self, tmp: Path, files: dict, abstract: bool = True, settle: str = "1s", **fake: str):
        self.paths: HostPaths = make_root(tmp / "root", files)
        self.paths.config_dropins.mkdir(parents=True, exist_ok=True)
        (self.paths.config_dropins / "00-test.conf").write_text(f"[arm]\nsettle = {settle}\n")
        self.log = tmp / "kexec.log"
        self.rx = NotifyReceiver(tmp, abstract=abstract)
        env = fake_env(self.paths.root, self.log, **fake)
        for k in ("JOURNAL_STREAM", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(k, None)
        env.update(NOTIFY_SOCKET=self.rx.name, PYTHONPATH=str(REPO), PATH=f"{FAKES}:/usr/bin:/bin")
        self.env = env
        self.stderr = ""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crashd", "daemon", "--root", str(self.paths.root), "--poll", "0.2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def wait(self, pred, timeout: float = TIMEOUT) -> dict[str, str]:
        try:
            return self.rx.wait_for(pred, timeout)
        except AssertionError:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=10)
            raise AssertionError(f"{self.rx.statuses()[-5:]}\n--- daemon stderr ---\n{err}") from None

    def ready(self) -> dict[str, str]:
        return self.wait(lambda m: m.get("READY") == "1")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def crashd(self, *args: str) -> subprocess.CompletedProcess[str]:
        extra = {k: v for k, v in self.env.items() if k.startswith("FAKE_KEXEC_")}
        return run_crashd(list(args), self.paths.root, f"{FAKES}:/usr/bin:/bin", extra)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=TIMEOUT)
        finally:
            self.rx.close()
        return self.proc.returncode


@pytest.fixture
def daemon_factory(tmp_path: Path) -> Iterator:
    started: list[RunningDaemon] = []

    def make(files: dict | None = None, **kw) -> RunningDaemon:
        d = RunningDaemon(tmp_path, files if files is not None else unarmed_guest(), **kw)
        started.append(d)
        return d

    yield make
    for d in started:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(timeout=10)


def armed(m: dict[str, str]) -> bool:
    return m.get("STATUS", "").startswith("armed: ")


def test_arms_reports_ready_and_status_exits_0(daemon_factory) -> None:
    d = daemon_factory()
    ready = d.ready()
    assert ready["STATUS"].startswith(f"armed: {RELEASE}, 256 MiB reserved, since ")
    [argv] = loads(d.log)
    append = next(a for a in argv if a.startswith("--append="))
    assert "systemd.unit=crashd-capture.target" in append and "crashd.boot_id=0f5c3b5e" in append
    assert argv[-1] == str(d.paths.boot(f"vmlinuz-{RELEASE}"))
    status = d.crashd("status")
    assert status.returncode == 0, status.stderr
    state = read_state(d.paths)
    assert state is not None and state.armed and state.cmdline and "crashd-capture.target" in state.cmdline
    assert d.stop() == 0


def test_touching_the_initrd_rearms_once(daemon_factory) -> None:
    d = daemon_factory(abstract=False)
    d.ready()
    initrd = d.paths.boot(f"initrd.img-{RELEASE}")
    initrd.write_bytes(initrd.read_bytes() + b"more")
    m = d.wait(lambda m: armed(m) and "re-armed" in m["STATUS"])
    assert f"/boot/initrd.img-{RELEASE} changed" in m["STATUS"]
    # a reload round-trip: anything the touch still had queued would have run by now
    d.signal(signal.SIGHUP)
    d.wait(lambda m: m.get("READY") == "1")
    assert len(loads(d.log)) == 2
    assert d.stop() == 0


def test_no_reservation_explains_then_arms_when_it_appears(daemon_factory) -> None:
    d = daemon_factory(dev_machine(RELEASE))
    ready = d.ready()
    assert ready["STATUS"].startswith("not armed: no crashkernel reservation")
    assert re.search(r"add crashkernel=\d+M .*'crashd estimate'", ready["STATUS"])  # the estimate, not a fixed size
    assert d.proc.poll() is None  # stays up
    d.paths.iomem.write_text(GUEST_IOMEM)
    d.paths.kexec_crash_size.write_text(str(256 << 20) + "\n")
    d.wait(armed)
    assert crash_loaded(d.paths) is True
    assert d.stop() == 0


def test_kexec_failure_is_reported_then_recovers(daemon_factory, tmp_path: Path) -> None:
    fail = tmp_path / "fail"
    fail.write_text("kexec_file_load failed: Key was rejected by service\n")
    d = daemon_factory(FAKE_KEXEC_FAIL_FILE=str(fail))
    ready = d.ready()
    assert ready["STATUS"].startswith("not armed: kexec -p failed")
    assert "Key was rejected by service" in ready["STATUS"] and "retrying in" in ready["STATUS"]
    state = read_state(d.paths)
    assert state is not None and not state.armed and "Key was rejected" in (state.last_error or "")
    fail.unlink()
    d.wait(armed)
    assert d.stop() == 0
    assert d.stderr.count("Arming the capture kernel failed: kexec -p failed") == 1  # once for its cause


def test_reload_with_broken_dropin_keeps_last_good_and_names_file_line(daemon_factory) -> None:
    d = daemon_factory()
    d.ready()
    (d.paths.config_dropins / "50-bad.conf").write_text("[panic]\non_oops = perhaps\n")
    d.signal(signal.SIGHUP)
    d.wait(lambda m: m.get("RELOADING") == "1")
    m = d.ready()
    assert m["STATUS"].startswith("armed: ")
    assert "/etc/crashd.conf.d/50-bad.conf:2" in m["STATUS"]
    assert d.stop() == 0


def test_sigterm_restores_sysctls(daemon_factory) -> None:
    files = unarmed_guest()
    files["/proc/sys/kernel/panic_on_oops"] = "0\n"
    d = daemon_factory(files)
    d.ready()
    assert read_sysctl(d.paths, "kernel.panic_on_oops") == "1"
    d.signal(signal.SIGTERM)
    d.wait(lambda m: m.get("STOPPING") == "1")
    assert d.stop() == 0
    assert read_sysctl(d.paths, "kernel.panic_on_oops") == "0"
    assert crash_loaded(d.paths) is True  # [arm] unload_on_stop = no: a crash during shutdown is still caught


def test_unloaded_behind_our_back_is_rearmed(daemon_factory) -> None:
    d = daemon_factory()
    d.ready()
    d.paths.kexec_crash_loaded.write_text("0\n")
    m = d.wait(lambda m: armed(m) and "re-armed" in m["STATUS"])
    assert "unloaded" in m["STATUS"] and crash_loaded(d.paths) is True
    assert d.stop() == 0


def test_disarm_and_arm_tell_the_running_daemon(daemon_factory) -> None:
    d = daemon_factory()
    d.ready()
    out = d.crashd("disarm")
    assert out.returncode == 0, out.stderr
    d.wait(lambda m: "disarmed" in m.get("STATUS", ""))
    assert crash_loaded(d.paths) is False
    out = d.crashd("arm")
    assert out.returncode == 0, out.stderr
    assert crash_loaded(d.paths) is True
    d.wait(armed)
    assert len(loads(d.log)) == 2  # the daemon adopted the CLI's load instead of loading again
    status = d.crashd("status")
    assert status.returncode == 0
    assert d.stop() == 0


def test_arm_without_daemon_not_ready_exits_3(tmp_path: Path) -> None:
    paths = make_root(tmp_path / "root", dev_machine(RELEASE))
    out = run_crashd(["arm"], paths.root, f"{FAKES}:/usr/bin:/bin",
                     {"FAKE_KEXEC_ROOT": str(paths.root), "FAKE_KEXEC_LOG": str(tmp_path / "log")})
    assert out.returncode == 3
    assert "crashkernel" in out.stderr
    assert not (tmp_path / "log").exists()  # kexec never ran
    assert not (paths.state_dir / "disarmed").exists()  # and no hold was left behind


def test_arm_and_disarm_without_daemon(tmp_path: Path) -> None:
    import json

    paths = make_root(tmp_path / "root", unarmed_guest())
    log = tmp_path / "log"
    env = {"FAKE_KEXEC_ROOT": str(paths.root), "FAKE_KEXEC_LOG": str(log)}
    out = run_crashd(["arm", "--json"], paths.root, f"{FAKES}:/usr/bin:/bin", env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] and data["daemon_pid"] is None
    assert "systemd.unit=crashd-capture.target" in data["state"]["cmdline"]
    assert crash_loaded(paths) is True
    state = read_state(paths)
    assert state is not None and state.reason == "crashd arm"
    out = run_crashd(["disarm"], paths.root, f"{FAKES}:/usr/bin:/bin", env)
    assert out.returncode == 0 and crash_loaded(paths) is False
    # the guest's kernel has CONFIG_KEXEC_FILE: auto loaded with -s, so it unloads with -s
    assert kexec_calls(log)[0][:2] == ["-p", "-s"]
    assert kexec_calls(log)[-1] == ["-p", "-s", "-u"]
    again = run_crashd(["disarm"], paths.root, f"{FAKES}:/usr/bin:/bin", env)
    assert again.returncode == 0 and "nothing to unload" in again.stdout
