"""The daemon's decisions, driven with a fake clock: debounce, backoff, reload, stop.

Real collaborators except time: the fake kexec executable through the ToolRunner,
a real notify socket, the pipe-fed hotplug source, a recording journal.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from crashd.arm.armstate import clear_hold, read_state, set_hold
from crashd.arm.daemon import BACKOFF_FIRST, BACKOFF_MAX, Daemon, plan_files
from crashd.arm.hotplug import PipeSource
from crashd.arm.kexec import crash_loaded
from crashd.arm.panic_policy import read_sysctl
from crashd.core.journal import Journal
from crashd.core.notify import Notifier
from crashd.core.paths import HostPaths
from tests.fakeroot import GUEST_IOMEM, RELEASE, dev_machine, unarmed_guest
from tests.unit.arm.helpers import FakeClock, NotifyReceiver, fake_tools, loads, make_root

POLL = 5.0


class RecordingJournal(Journal):
    def __init__(self) -> None:
        super().__init__(None)
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def event(self, event: str, message: str, priority: int = 6, **fields: object) -> None:
        self.events.append((event, message, dict(fields, priority=priority)))

    def named(self, name: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [e for e in self.events if e[0] == name]


class World:
    def __init__(self, tmp: Path, files: dict, **fake: str):
        self.paths: HostPaths = make_root(tmp / "root", files)
        self.log = tmp / "kexec.log"
        self.rx = NotifyReceiver(tmp)
        self.clock = FakeClock()
        self.hotplug = PipeSource()
        self.journal = RecordingJournal()
        self.tools = fake_tools(self.paths.root, self.log, **fake)
        self.daemon = self.new_daemon()

    def new_daemon(self, **kw: Any) -> Daemon:
        return Daemon(self.paths, self.tools, notifier=Notifier(self.rx.name), journal=self.journal,
                      hotplug=self.hotplug, clock=self.clock, poll=POLL, arch="x86_64", **kw)

    def run_for(self, seconds: float, step: float = 0.5) -> None:
        """Advance the fake clock, ticking like the event loop would."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.clock.advance(step)
            self.daemon.tick(self.clock.now)
            self.rx.drain()  # like systemd, keep reading: a full socket queue would stall sends

    def status(self) -> str:
        """The latest STATUS= the daemon sent."""
        self.rx.drain()
        return self.rx.statuses()[-1]

    def config(self, name: str, text: str) -> None:
        d = self.paths.config_dropins
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)


@pytest.fixture
def world(tmp_path: Path):
    w = World(tmp_path, unarmed_guest())
    yield w
    w.rx.close()
    w.hotplug.close()


def test_start_arms_and_reports_ready(world: World) -> None:
    world.daemon.start()
    msgs = world.rx.drain()
    ready = [m for m in msgs if m.get("READY") == "1"]
    assert len(ready) == 1
    assert ready[0]["STATUS"].startswith(f"armed: {RELEASE}, 256 MiB reserved, since ")
    [argv] = loads(world.log)
    assert any(a.startswith("--append=") and "systemd.unit=crashd-capture.target" in a for a in argv)
    assert crash_loaded(world.paths) is True
    [(_, _, fields)] = world.journal.named("armed")
    assert fields["release"] == RELEASE and fields["reason"] == "start"
    state = read_state(world.paths)
    assert state is not None and state.armed and state.reason == "start" and state.argv[0] == "kexec"


def test_touching_the_initrd_rearms_once(world: World) -> None:
    world.daemon.start()
    initrd = world.paths.boot(f"initrd.img-{RELEASE}")
    initrd.write_bytes(b"\x00new initrd\x00")
    world.run_for(POLL + 2.5)  # seen at the next poll, loaded once [arm] settle (2s) has passed
    assert len(loads(world.log)) == 2
    world.run_for(30)
    assert len(loads(world.log)) == 2
    [(_, message, fields)] = world.journal.named("rearmed")
    assert f"/boot/initrd.img-{RELEASE} changed" in fields["reason"]


def set_online_cpus(paths: HostPaths, cpus: str) -> None:
    """What the kernel shows after a CPU comes or goes: the event alone changes nothing."""
    p = paths.sys("devices", "system", "cpu", "online")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(cpus + "\n")


@pytest.mark.parametrize("settle", ["2s", "0"])
def test_hotplug_storm_rearms_at_most_twice_and_ends_armed(world: World, settle: str) -> None:
    world.config("10-settle.conf", f"[arm]\nsettle = {settle}\n")
    set_online_cpus(world.paths, "0-1")
    world.daemon.start()
    set_online_cpus(world.paths, "0-3")
    for i in range(100):  # 100 events within one second
        world.hotplug.inject("cpu" if i % 2 else "memory", "online", f"x{i}")
        world.clock.advance(0.01)
        world.daemon.on_hotplug(world.hotplug.drain(), world.clock.now)
        world.daemon.tick(world.clock.now)
        world.rx.drain()
    world.run_for(60)
    rearms = len(loads(world.log)) - 1
    assert 1 <= rearms <= 2
    assert crash_loaded(world.paths) is True
    assert world.status().startswith("armed: ")


def test_events_that_change_no_cpu_or_memory_do_not_rearm(world: World) -> None:
    """udev's coldplug replays "add" for every CPU at boot; re-arming then would leave the
    machine without a capture kernel for the seconds a load takes (seen in the VM test)."""
    set_online_cpus(world.paths, "0-1")
    world.daemon.start()
    for i in range(4):
        world.hotplug.inject("cpu", "add", f"cpu{i}")
    world.daemon.on_hotplug(world.hotplug.drain(), world.clock.now)
    world.run_for(30)
    assert len(loads(world.log)) == 1
    assert crash_loaded(world.paths) is True
    # memory really added: a new System RAM range in /proc/iomem
    iomem = world.paths.iomem.read_text() + "100000000-13fffffff : System RAM\n"
    world.paths.iomem.write_text(iomem)
    world.hotplug.inject("memory", "online", "memory32")
    world.daemon.on_hotplug(world.hotplug.drain(), world.clock.now)
    world.run_for(30)
    assert len(loads(world.log)) == 2


def test_crash_hotplug_1_skips_rearm(world: World) -> None:
    for sub in ("cpu", "memory"):
        p = world.paths.sys("devices", "system", sub, "crash_hotplug")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("1\n")
    world.daemon.start()
    world.hotplug.inject("cpu", "online", "cpu3")
    world.hotplug.inject("memory", "offline", "memory9")
    world.daemon.on_hotplug(world.hotplug.drain(), world.clock.now)
    world.run_for(30)
    assert len(loads(world.log)) == 1


def test_no_reservation_stays_up_explains_and_arms_when_it_appears(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import crashd.arm.daemon as daemon_module

    checks: list[float] = []
    real_assess = daemon_module.assess

    def counting_assess(*args: Any, **kwargs: Any) -> Any:
        checks.append(w.clock.now)
        return real_assess(*args, **kwargs)

    monkeypatch.setattr(daemon_module, "assess", counting_assess)
    w = World(tmp_path, dev_machine(RELEASE))
    w.daemon.start()
    [ready] = [m for m in w.rx.drain() if m.get("READY") == "1"]
    assert ready["STATUS"].startswith("not armed: no crashkernel reservation")
    assert re.search(r"add crashkernel=\d+M .*'crashd estimate'", ready["STATUS"])  # the estimate, not a fixed size
    w.run_for(60)
    assert loads(w.log) == []
    assert len(w.journal.named("arm_failed")) == 1  # once per distinct cause, not once per poll
    assert w.journal.named("arm_failed")[0][2]["reason"] == "no_reservation"
    # only a reboot makes a reservation: re-checked with a doubling interval, not every poll
    assert len(checks) <= 5, checks
    w.run_for(3600)
    assert len(checks) <= 5 + 3600 // BACKOFF_MAX + 1, checks
    # the reservation appears in the fake root (a SIGHUP re-checks at once; else the next re-check)
    w.paths.kexec_crash_size.write_text(str(256 << 20) + "\n")
    w.paths.iomem.write_text(GUEST_IOMEM)
    w.run_for(BACKOFF_MAX + 1)
    assert len(loads(w.log)) == 1 and crash_loaded(w.paths) is True
    assert w.status().startswith("armed: ")


def test_kexec_failure_backs_off_logs_once_per_cause_and_recovers(tmp_path: Path) -> None:
    fail = tmp_path / "fail"
    fail.write_text("kexec_load failed: Device or resource busy\n")
    w = World(tmp_path, unarmed_guest(), FAKE_KEXEC_FAIL_FILE=str(fail))
    w.daemon.start()
    status = [m for m in w.rx.drain() if m.get("READY") == "1"][0]["STATUS"]
    assert "Device or resource busy" in status and f"retrying in {int(BACKOFF_FIRST)}s" in status
    assert len(loads(w.log)) == 1
    w.run_for(BACKOFF_FIRST - 1)
    assert len(loads(w.log)) == 1  # not before the backoff
    w.run_for(2)
    assert len(loads(w.log)) == 2
    w.run_for(2 * BACKOFF_FIRST - 2)
    assert len(loads(w.log)) == 2  # the second wait is longer
    w.run_for(3)
    assert len(loads(w.log)) == 3
    failed = w.journal.named("arm_failed")
    assert len(failed) == 1 and "Device or resource busy" in failed[0][2]["stderr"]
    fail.write_text("Cannot load /boot/vmlinuz: Key was rejected by service\n")
    w.run_for(60)
    assert len(w.journal.named("arm_failed")) == 2  # a new cause is logged
    state = read_state(w.paths)
    assert state is not None and not state.armed and "Key was rejected" in (state.last_error or "")
    fail.unlink()
    w.run_for(400)
    assert crash_loaded(w.paths) is True
    assert w.status().startswith("armed: ")


def test_reload_with_broken_dropin_keeps_last_good_config(world: World) -> None:
    world.config("10-warn.conf", "[panic]\non_warn = yes\n")
    world.daemon.start()
    assert read_sysctl(world.paths, "kernel.panic_on_warn") == "1"
    world.rx.drain()
    world.config("10-warn.conf", "[panic]\non_warn = no\n")
    world.config("50-bad.conf", "# oops\n[arm]\nsettle = soon\n")
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    msgs = world.rx.drain()
    assert msgs[0].get("RELOADING") == "1"
    ready = [m for m in msgs if m.get("READY") == "1"][-1]
    assert "/etc/crashd.conf.d/50-bad.conf:3" in ready["STATUS"]
    assert ready["STATUS"].startswith("armed: ")
    assert read_sysctl(world.paths, "kernel.panic_on_warn") == "1"  # old config still in force
    (world.paths.config_dropins / "50-bad.conf").unlink()
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    assert read_sysctl(world.paths, "kernel.panic_on_warn") == "0"
    assert "conf" not in world.status()
    assert len(loads(world.log)) == 1  # same plan: reloading did not re-load kexec


def test_reload_with_changed_cmdline_rearms(world: World) -> None:
    world.daemon.start()
    world.config("20-cmd.conf", "[arm]\ncmdline_append = nr_cpus=1 irqpoll\n")
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    calls = loads(world.log)
    assert len(calls) == 2 and "udev.children-max" not in " ".join(calls[1])
    assert world.journal.named("rearmed")[0][2]["reason"] == "configuration reloaded"


def test_sigterm_restores_sysctls_and_leaves_kernel_loaded(world: World) -> None:
    world.paths.sysctl("kernel.panic_on_oops").write_text("0\n")
    world.daemon.start()
    assert read_sysctl(world.paths, "kernel.panic_on_oops") == "1"
    assert read_state(world.paths).sysctl_originals == {"kernel.panic_on_oops": "0"}  # type: ignore[union-attr]
    world.rx.drain()
    world.daemon.on_signal(signal.SIGTERM, world.clock.now)
    assert world.rx.drain()[0].get("STOPPING") == "1"
    assert read_sysctl(world.paths, "kernel.panic_on_oops") == "0"
    assert crash_loaded(world.paths) is True  # unload_on_stop = no (default)
    state = read_state(world.paths)
    assert state is not None and state.armed and state.sysctl_originals == {}
    assert not (world.paths.state_dir / "daemon.pid").exists()


def test_unload_on_stop(world: World) -> None:
    world.config("30-stop.conf", "[arm]\nunload_on_stop = yes\n")
    world.daemon.start()
    world.daemon.on_signal(signal.SIGTERM, world.clock.now)
    assert crash_loaded(world.paths) is False
    assert len(world.journal.named("disarmed")) == 1
    assert read_state(world.paths).armed is False  # type: ignore[union-attr]


def test_unloaded_behind_our_back_is_rearmed(world: World) -> None:
    world.daemon.start()
    world.paths.kexec_crash_loaded.write_text("0\n")
    world.run_for(POLL + 1)
    assert crash_loaded(world.paths) is True and len(loads(world.log)) == 2
    assert world.journal.named("rearmed")[0][2]["reason"] == "capture kernel was unloaded"


def test_restart_adopts_a_matching_load(world: World) -> None:
    world.daemon.start()
    world.daemon.on_signal(signal.SIGTERM, world.clock.now)
    world.daemon = world.new_daemon()
    world.daemon.start()
    assert len(loads(world.log)) == 1
    assert world.status().startswith("armed: ")


def test_hold_from_disarm_is_respected_until_arm(world: World) -> None:
    world.daemon.start()
    set_hold(world.paths, "crashd disarm")
    world.paths.kexec_crash_loaded.write_text("0\n")  # what `crashd disarm` did
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    world.run_for(30)
    assert len(loads(world.log)) == 1
    assert "disarmed" in world.status()
    clear_hold(world.paths)
    world.run_for(POLL + 1)
    assert len(loads(world.log)) == 2 and crash_loaded(world.paths) is True


def test_watchdog_pings_when_enabled(world: World) -> None:
    world.daemon = world.new_daemon(watchdog=10.0)
    world.daemon.start()
    world.run_for(25)
    world.rx.drain()
    assert sum(1 for m in world.rx.messages if m.get("WATCHDOG") == "1") >= 2


def test_disabled_by_config(world: World) -> None:
    world.config("40-off.conf", "[arm]\nenabled = no\n")
    world.daemon.start()
    status = [m for m in world.rx.drain() if m.get("READY") == "1"][0]["STATUS"]
    assert status.startswith("not armed: disabled by [arm] enabled = no")
    assert "40-off.conf:2" in status and loads(world.log) == []


def test_files_gone_after_arming_keep_the_load_and_say_so(world: World) -> None:
    world.daemon.start()
    world.paths.boot(f"initrd.img-{RELEASE}").unlink()
    world.run_for(30)
    status = world.status()
    assert status.startswith("armed, but cannot re-arm: ") and "update-initramfs" in status
    assert crash_loaded(world.paths) is True and len(loads(world.log)) == 1
    assert [e[2]["reason"] for e in world.journal.named("arm_failed")] == ["no_capture_initrd"]


def test_disabling_on_reload_does_not_claim_unloaded(world: World) -> None:
    world.daemon.start()
    world.config("40-off.conf", "[arm]\nenabled = no\n")
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    assert "still loaded" in world.status() and crash_loaded(world.paths) is True


def test_real_event_loop_takes_a_storm_through_the_pipe(tmp_path: Path) -> None:
    """Daemon.run() itself: select() on the pipe-fed monitor and the signal fd, real time."""
    import threading
    import time

    w = World(tmp_path, unarmed_guest())
    w.daemon = Daemon(w.paths, w.tools, notifier=Notifier(w.rx.name), journal=w.journal, hotplug=w.hotplug,
                      poll=0.2, arch="x86_64")
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            w.rx.wait_for(lambda m: m.get("READY") == "1", 30)
            set_online_cpus(w.paths, "0-7")
            for i in range(100):
                w.hotplug.inject("cpu", "online", f"cpu{i}")
                time.sleep(0.005)  # spreads the storm over ~0.5 s; not used to synchronise
            m = w.rx.wait_for(lambda m: "re-armed: cpu hotplug" in m.get("STATUS", ""), 30)
            outcome["status"] = m["STATUS"]
        except AssertionError as exc:
            outcome["error"] = str(exc)
        finally:
            # what the SIGTERM handler does, without signalling the pytest process
            # (which a late signal, after run() restored the handlers, would kill)
            w.daemon._signals.append(signal.SIGTERM)

    thread = threading.Thread(target=drive)
    thread.start()
    assert w.daemon.run() == 0
    thread.join(30)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert 1 <= len(loads(w.log)) - 1 <= 2
    assert crash_loaded(w.paths) is True
    w.rx.close()


class BrokenSource:
    """A hotplug source that is readable and then fails, as a socket the kernel errors does."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.write(self.w, b"x")
        self.closed = False

    def fileno(self) -> int:
        return self.r

    def drain(self) -> list[Any]:
        raise OSError(errno.EBADF, "Bad file descriptor")

    def close(self) -> None:
        if not self.closed:
            os.close(self.r)
            os.close(self.w)
            self.closed = True


def test_a_broken_hotplug_source_costs_hotplug_not_the_daemon(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import threading

    w = World(tmp_path, unarmed_guest())
    broken = BrokenSource()
    w.daemon = Daemon(w.paths, w.tools, notifier=Notifier(w.rx.name), journal=w.journal, hotplug=broken,
                      poll=0.2, arch="x86_64")
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            ready = w.rx.wait_for(lambda m: m.get("READY") == "1", 30)
            outcome["status"] = ready.get("STATUS", "")
            deadline = time.monotonic() + 30
            while not broken.closed and time.monotonic() < deadline:
                time.sleep(0.05)
            outcome["closed"] = broken.closed
        except AssertionError as exc:
            outcome["error"] = str(exc)
        finally:
            w.daemon._signals.append(signal.SIGTERM)

    thread = threading.Thread(target=drive)
    with caplog.at_level("WARNING"):
        thread.start()
        assert w.daemon.run() == 0
    thread.join(30)
    assert "error" not in outcome and outcome.get("closed") is True, outcome
    assert outcome["status"].startswith("armed: "), outcome
    assert any("not watching CPU/memory hotplug any more" in r.getMessage() for r in caplog.records)
    assert crash_loaded(w.paths) is True
    w.rx.close()


def test_armhf_guest_passes_dtb_and_image_size(tmp_path: Path) -> None:
    release = "6.1.0-56-armmp"
    files: dict[str, str | bytes | None] = {**unarmed_guest(release)}
    zimage = bytearray(0x40)
    zimage[0x24:0x28] = (0x016F2818).to_bytes(4, "little")
    files[f"/boot/vmlinuz-{release}"] = None
    files[f"/boot/zImage-{release}"] = bytes(zimage)
    files["/sys/firmware/fdt"] = b"\xd0\x0d\xfe\xed"
    files["/proc/cmdline"] = "console=ttyAMA0 root=/dev/vda2 crashkernel=256M\n"
    w = World(tmp_path, files)
    w.daemon = Daemon(w.paths, w.tools, notifier=Notifier(w.rx.name), journal=w.journal, clock=w.clock,
                      poll=POLL, arch="armv7l")
    w.daemon.start()
    [argv] = loads(w.log)
    assert argv[-1] == str(w.paths.boot(f"zImage-{release}"))
    assert f"--dtb={w.paths.sys('firmware', 'fdt')}" in argv
    assert "--image-size=0x3000000" in argv
    assert "--append=console=ttyAMA0 root=/dev/vda2 nr_cpus=1 reset_devices irqpoll udev.children-max=2 panic=10 cma=0 cgroup_disable=memory transparent_hugepage=never " \
           "systemd.unit=crashd-capture.target crashd.boot_id=0f5c3b5e8c1e4a539d558c2ba3b7e1a2" in argv
    w.rx.close()


# --- issue 10 F/F2: the daemon survives what it cannot change ------------------------


def test_sighup_with_an_absurd_size_keeps_the_last_good_config_and_the_policy(world: World) -> None:
    world.daemon.start()
    assert read_sysctl(world.paths, "kernel.panic_on_oops") == "1"
    world.config("50-big.conf", "[capture]\nmin_free = " + "9" * 400 + "\n[panic]\non_oops = no\n")
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    assert not world.daemon.stopped
    assert "config not reloaded, keeping the last good one" in world.status()
    assert "50-big.conf:2" in world.status()
    assert read_sysctl(world.paths, "kernel.panic_on_oops") == "1"  # the new [panic] was not half-applied
    world.run_for(30)
    assert world.status().startswith("armed: ")


def test_sighup_survives_a_parser_bug(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import crashd.arm.daemon as daemon_module

    world.daemon.start()

    def broken(paths: HostPaths) -> Any:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(daemon_module, "read_config", broken)
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)
    assert not world.daemon.stopped and "internal error: parser bug" in world.status()


def test_fifo_dropin_does_not_freeze_the_daemon(world: World) -> None:
    import os

    world.daemon.start()
    world.paths.config_dropins.mkdir(parents=True, exist_ok=True)
    os.mkfifo(world.paths.config_dropins / "50-x.conf")
    world.daemon.on_signal(signal.SIGHUP, world.clock.now)  # would block forever reading the FIFO
    assert "50-x.conf: cannot read: is not a regular file" in world.status()


def test_run_crashd_replaced_by_a_symlink_does_not_stop_the_daemon(tmp_path: Path) -> None:
    import shutil

    w = World(tmp_path, unarmed_guest())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state = w.paths.state_dir
    if state.exists():
        shutil.rmtree(state)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.symlink_to(elsewhere)
    w.daemon.start()
    assert w.status().startswith("armed: ")
    w.paths.boot(f"initrd.img-{RELEASE}").write_bytes(b"\x00new initrd\x00")
    w.run_for(POLL + 3)
    assert len(loads(w.log)) == 2
    w.daemon.stop()
    assert w.daemon.stopped
    assert list(elsewhere.iterdir()) == []  # nothing written (or removed) through the link
    w.rx.close()
    w.hotplug.close()


def test_plan_files_keep_boot_files_of_a_root_under_a_sys_directory(tmp_path: Path) -> None:
    from crashd.arm.kexec import LoadPlan

    paths = HostPaths(tmp_path / "srv/sys/images/root")
    plan = LoadPlan(kernel=paths.boot("vmlinuz"), initrd=paths.boot("initrd.img"), dtb=paths.sys("firmware", "fdt"),
                    cmdline="", file_load=False, image_size=None)
    assert plan_files(paths, plan) == [paths.boot("vmlinuz"), paths.boot("initrd.img")]


def test_remote_target_rearms_when_its_route_appears(tmp_path: Path) -> None:
    """Armed before the network was up (no route: no capture network planned), the daemon
    looks again every REMOTE_RECHECK seconds and re-arms once with the plan; an unchanged
    plan loads nothing."""
    from crashd.arm.daemon import REMOTE_RECHECK
    from crashd.core.tools import ToolRunner
    from tests.unit.arm.helpers import FAKES, fake_env

    flag = tmp_path / "link-up"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ip").write_text(
        f"#!/bin/sh\nif [ -e {flag} ]; then echo '192.0.2.10 dev eth0 src 192.0.2.2 uid 0 \\\\    cache '; exit 0; fi\n"
        "echo 'RTNETLINK answers: Network is unreachable' >&2; exit 2\n")
    (bindir / "ip").chmod(0o755)
    files = {**unarmed_guest(), "/etc/crashd.conf": "[capture]\ntarget = ssh://crash@192.0.2.10/srv/crash\n",
             "/sys/class/net/eth0/ifindex": "2\n",
             "/run/systemd/netif/links/2": "ADMIN_STATE=configured\nNETWORK_FILE=/etc/systemd/network/50.network\n"}
    w = World(tmp_path, files)
    w.daemon.tools = ToolRunner(path=f"{bindir}:{FAKES}:/usr/bin:/bin", env=fake_env(w.paths.root, w.log))
    try:
        w.daemon.start()
        [first] = loads(w.log)
        assert not any("crashd.net=" in a for a in first)
        w.run_for(REMOTE_RECHECK + 5)
        assert len(loads(w.log)) == 1  # still no route: the same plan, nothing loaded
        flag.touch()
        w.run_for(REMOTE_RECHECK + 5)
        assert len(loads(w.log)) == 2
        append = next(a for a in loads(w.log)[-1] if a.startswith("--append="))
        assert "systemd.wants=crashd-capture-network.service crashd.net=networkd:eth0" in append
        w.run_for(2 * REMOTE_RECHECK + 5)
        assert len(loads(w.log)) == 2
    finally:
        w.rx.close()
        w.hotplug.close()
