"""``crashd daemon``: arm the capture kernel when ready and keep it armed.

The composition root: :class:`Daemon` gets every collaborator (paths, tool seam,
notifier, journal, hotplug source, clock) through its constructor. The event loop
(:meth:`Daemon.run`) only waits; all decisions happen in :meth:`Daemon.tick`,
:meth:`Daemon.on_hotplug` and :meth:`Daemon.on_signal`, which take ``now`` so unit
tests drive debounce and backoff with a fake clock.

Rules it keeps:
- never exits on a problem (no reservation, kexec failing, broken config): it
  says what is wrong in ``STATUS=`` and the journal, and tries again on events;
- one re-arm per burst of events: a change schedules an attempt ``[arm] settle``
  after the last event (at most ``MAX_DELAY_FACTOR`` × settle after the first);
- a failing kexec is retried with exponential backoff; each distinct cause is
  logged once;
- a broken config on SIGHUP keeps the last good one and names FILE:LINE.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from crashd.arm.armstate import (
    ArmState,
    held,
    now_iso,
    read_state,
    remove_pid,
    write_pid,
    write_state,
)
from crashd.arm.bootlog import note_armed, note_stopped
from crashd.arm.hotplug import HotplugEvent, HotplugSource, Topology, relevant, topology
from crashd.arm.kexec import ArmError, Kexec, LoadPlan, crash_loaded, crash_size, load_argv, plan_for
from crashd.arm.panic_policy import PanicPolicy, post_notifiers
from crashd.arm.readiness import Readiness, assess
from crashd.arm.watch import FileWatch, stamp
from crashd.core.config import ConfigReport, read_config
from crashd.core.errors import CrashdError
from crashd.core.journal import Journal
from crashd.core.notify import Notifier
from crashd.core.paths import HostPaths
from crashd.core.remote import is_remote
from crashd.core.settings import Config
from crashd.core.tools import ToolRunner

__all__ = [
    "BACKOFF_FIRST",
    "BACKOFF_MAX",
    "DEFAULT_POLL",
    "Daemon",
    "HOTPLUG_MIN_SETTLE",
    "MAX_DELAY_FACTOR",
    "REBOOT_ONLY_CAUSES",
    "Pending",
    "arm_state",
    "armed_status",
    "blocking_problem",
    "fingerprint",
    "log",
    "plan_files",
    "watchdog_from_env",
]

log = logging.getLogger(__name__)

DEFAULT_POLL = 5.0  # seconds between checks of files, the loaded flag, readiness
BACKOFF_FIRST = 5.0
BACKOFF_MAX = 300.0
# Hotplug comes in storms (a VM adding 64 CPUs): even with [arm] settle = 0,
# wait this long for quiet so a storm costs one or two loads, not one per event.
HOTPLUG_MIN_SETTLE = 1.0
MAX_DELAY_FACTOR = 5  # a never-ending event storm still re-arms after 5 × settle
# Causes only a reboot changes (the reservation is made at boot, kexec_load_disabled
# is one-way, the kernel's build options are fixed): re-checked with a doubling
# interval up to BACKOFF_MAX instead of every poll. Events (SIGHUP, hotplug, a
# changed file) still re-check at once.
REMOTE_RECHECK = 60.0  # seconds between looks at a remote target's route while armed
REBOOT_ONLY_CAUSES = frozenset({"no_reservation", "reservation_failed", "kexec_load_disabled",
                                "kexec_load_limit_reached", "kernel_lacks_options"})


@dataclass
class Pending:
    """A scheduled arm attempt and why."""

    reason: str
    first: float
    due: float
    events: int = 1
    reload: bool = False  # load again even if the plan is unchanged (hotplug)


def plan_files(paths: HostPaths, plan: LoadPlan) -> list[Path]:
    """Files whose change means the loaded image is stale. The live device tree
    under the root's /sys is not a file that changes; it is left out (by place,
    not by substring: a root under /srv/sys/… still watches its /boot)."""
    files = [plan.kernel, plan.initrd, plan.dtb]
    return [f for f in files if f is not None and not f.is_relative_to(paths.sys())]


def fingerprint(paths: HostPaths, plan: LoadPlan) -> list[list[Any]]:
    return [[str(f), list(stamp(f) or [])] for f in plan_files(paths, plan)]


def arm_state(paths: HostPaths, plan: LoadPlan, release: str, reason: str, **extra: object) -> ArmState:
    """The state record of a successful load of ``plan``."""
    return ArmState(
        armed=True,
        kernel=paths.unhost(plan.kernel),
        initrd=paths.unhost(plan.initrd) if plan.initrd else None,
        dtb=paths.unhost(plan.dtb) if plan.dtb else None,
        cmdline=plan.cmdline,
        file_load=plan.file_load,
        since=now_iso(),
        reason=reason,
        release=release,
        reserved=crash_size(paths),
        argv=load_argv(plan),
        fingerprint=fingerprint(paths, plan),
        **extra,  # type: ignore[arg-type]
    )


def armed_status(release: str | None, reserved: int | None, since: datetime, note: str = "") -> str:
    """``armed: 6.1.0-56-amd64, 256 MiB reserved, since 12:03:04 (re-armed: …)``."""
    size = f", {reserved >> 20} MiB reserved" if reserved else ""
    tail = f" ({note})" if note else ""
    return f"armed: {release or 'unknown release'}{size}, since {since.strftime('%H:%M:%S')}{tail}"


class Daemon:
    """Keeps the capture kernel armed. Drive it with ``start``/``tick``/``stop``."""

    def __init__(
        self,
        paths: HostPaths,
        tools: ToolRunner,
        *,
        notifier: Notifier,
        journal: Journal,
        hotplug: HotplugSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll: float = DEFAULT_POLL,
        arch: str | None = None,
        watchdog: float | None = None,
    ):
        from crashd.arm.bootfiles import machine_arch

        self.paths = paths
        self.tools = tools
        self.notifier = notifier
        self.journal = journal
        self.hotplug = hotplug
        self.clock = clock
        self.poll = poll
        self.arch = arch or machine_arch()
        self.watchdog = watchdog
        self.kexec = Kexec(paths, tools)
        self.watch = FileWatch()
        self.policy = PanicPolicy(paths)
        self.config: Config | None = None
        self.config_problem: str | None = None
        self.pending: Pending | None = None
        self.retry_at: float | None = None
        self.backoff = 0.0
        self.last_cause: str | None = None
        self.recheck_at = 0.0  # not armed and not ready: the next readiness re-check
        self.remote_recheck_at = 0.0  # armed for a remote target: the next look at its route
        self.remote_recheck_started = False
        self.recheck_delay = 0.0
        self.armed_plan: LoadPlan | None = None
        self.armed_topology: Topology | None = None  # CPUs and RAM when armed_plan was loaded
        self.armed_release: str | None = None
        self.arm_count = 0
        self.holding = False
        self.stopped = False
        self.ready_sent = False
        self.next_poll = 0.0
        self.next_watchdog = 0.0
        self._signals: list[int] = []
        self._base_status = "starting"
        self.last_readiness: Readiness | None = None
        self.degraded_note = ""  # "armed, but …" (Readiness.degraded_text) of the current load

    # --- lifecycle ---------------------------------------------------------

    def start(self, now: float | None = None) -> None:
        """Load config, apply the panic policy, try to arm, then READY=1 — ready
        means "running and reporting", not "armed"."""
        now = self.clock() if now is None else now
        previous = read_state(self.paths)
        if previous and previous.sysctl_originals:
            # a previous daemon died without restoring: those are the true originals
            self.policy = PanicPolicy(self.paths, previous.sysctl_originals)
        report = read_config(self.paths)
        self._report_problems(report)
        self.config = report.config  # broken keys fall back to their defaults at start
        self._apply_policy()
        try:
            write_pid(self.paths)
        except (OSError, CrashdError) as exc:  # `crashd arm`/`disarm` then cannot signal us; not fatal
            log.error("cannot write the pid file in %s: %s", self.paths.unhost(self.paths.state_dir), exc)
        self.request("start", now, settle=False)
        self.tick(now)
        self.notifier.send("READY=1", f"STATUS={self.status_text()}")
        self.ready_sent = True
        self.next_watchdog = now

    def stop(self) -> None:
        """SIGTERM: restore sysctls, unload if configured, STOPPING=1."""
        self.notifier.send("STOPPING=1", "STATUS=stopping")
        self.policy.restore()
        cfg = self.config
        state = read_state(self.paths)
        if cfg is not None and cfg.arm.unload_on_stop and crash_loaded(self.paths):
            file_load = bool(state.file_load) if state else False
            try:
                self.kexec.unload(file_load)
            except ArmError as exc:
                log.error("could not unload the capture kernel: %s", exc)
            else:
                self.journal.event("disarmed", "Capture kernel unloaded: crashd.service stopped",
                                   priority=5, reason="service stopped")
                state = ArmState(armed=False, since=now_iso(), reason="crashd.service stopped")
        if state is not None:
            # what could not be restored stays recorded for the next start
            self._write_state(state, originals=self.policy.pending_originals())
        note_stopped(self.paths, self.tools)  # "shutdown" only while the system is going down
        try:
            remove_pid(self.paths)
        except (OSError, CrashdError) as exc:
            log.error("cannot remove the pid file: %s", exc)
        self.stopped = True

    # --- inputs --------------------------------------------------------------

    def request(
        self,
        reason: str,
        now: float,
        *,
        settle: bool = True,
        force: bool = False,
        reload: bool = False,
        min_settle: float = 0.0,
    ) -> None:
        """Schedule an arm attempt; ``settle`` debounces, ``force`` skips backoff,
        ``reload`` loads again even when the plan is unchanged (the kernel's view
        of CPUs and memory, baked into the loaded headers, is what changed)."""
        delay = max(float(self.config.arm.settle) if self.config else 0.0, min_settle) if settle else 0.0
        if force:
            self.retry_at = None
        if self.pending is None:
            self.pending = Pending(reason, now, now + delay, reload=reload)
            return
        p = self.pending
        p.events += 1
        p.reload = p.reload or reload
        if reason not in p.reason.split(", "):
            p.reason = f"{p.reason}, {reason}"
        if not settle:
            p.due = now
        elif p.due > p.first or delay == 0:
            # still settling: wait for quiet, but not forever
            p.due = min(max(p.due, now + delay), p.first + delay * MAX_DELAY_FACTOR)

    def on_hotplug(self, events: list[HotplugEvent], now: float) -> None:
        useful = relevant(events, self.paths)
        if not useful or self.holding:
            return
        subsystems = sorted({e.subsystem for e in useful})
        for _ in useful:
            self.request(f"{'/'.join(subsystems)} hotplug", now, reload=True, min_settle=HOTPLUG_MIN_SETTLE)

    def on_signal(self, signum: int, now: float) -> None:
        if signum == signal.SIGHUP:
            self.reload(now)
        elif signum in (signal.SIGTERM, signal.SIGINT):
            self.stop()

    def reload(self, now: float) -> None:
        """SIGHUP: re-read config (keep the last good one on errors) and re-check."""
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
        try:
            report = read_config(self.paths)
        except Exception as exc:  # a parser bug must not end the daemon (and leave [panic] applied)
            log.exception("reading the configuration failed")
            self.config_problem = f"config not reloaded, keeping the last good one: internal error: {exc}"
            self.request("configuration reloaded", now, settle=False, force=True)
            self.tick(now)
            self.notifier.send("READY=1", f"STATUS={self.status_text()}")
            return
        self._report_problems(report)
        if report.errors:
            first = report.errors[0]
            more = f" (+{len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
            self.config_problem = f"config not reloaded, keeping the last good one: {first}{more}"
            log.error("%s", self.config_problem)
        else:
            self.config = report.config
            self.config_problem = None
            self._apply_policy()
        self.next_poll = now  # notice a 'crashd arm'/'disarm' at once
        self.request("configuration reloaded", now, settle=False, force=True)
        self.tick(now)
        self.notifier.send("READY=1", f"STATUS={self.status_text()}")

    # --- the periodic step ---------------------------------------------------

    def tick(self, now: float) -> None:
        """Everything time-driven: polls, due attempts, status, watchdog."""
        if self.stopped:
            return
        if now >= self.next_poll:
            self.next_poll = now + self.poll
            try:
                self._poll(now)
            except Exception:  # a bug here must not stop the daemon; try again next poll
                log.exception("unexpected error while checking")
        p = self.pending
        if p is not None and now >= p.due and (self.retry_at is None or now >= self.retry_at):
            self.pending = None
            self.attempt(p.reason, now, reload=p.reload)
        if self.watchdog and now >= self.next_watchdog:
            self.notifier.send("WATCHDOG=1")
            self.next_watchdog = now + self.watchdog
        if self.ready_sent:
            self.notifier.status(self.status_text())

    def _poll(self, now: float) -> None:
        was_holding, self.holding = self.holding, held(self.paths)
        if self.holding:
            if self.armed_plan is not None or not was_holding:
                self.armed_plan = None
                self.pending = None
                self._base_status = "disarmed by 'crashd disarm'; run 'crashd arm' to arm again"
            return
        if was_holding:
            self.request("crashd arm", now, settle=False, force=True)
            return
        if self.armed_plan is not None:
            if crash_loaded(self.paths) is False:
                log.warning("the capture kernel was unloaded behind crashd's back; re-arming")
                self.armed_plan = None
                self.request("capture kernel was unloaded", now, settle=False, force=True)
                return
            changed = self.watch.news()
            if changed:
                names = ", ".join(sorted(self.paths.unhost(p) for p in changed))
                self.request(f"{names} changed", now)
            elif self.config is not None and is_remote(self.config.capture.target) and now >= self.remote_recheck_at:
                # The route to a remote target (and so the capture boot's network plan) can
                # change without any file we watch: DHCP, a link that came up after we armed.
                # An unchanged plan loads nothing (the argv compare in _attempt).
                self.remote_recheck_at = now + REMOTE_RECHECK
                if self.remote_recheck_started:
                    self.request("re-check of the remote target's network", now, settle=False)
                self.remote_recheck_started = True
        elif self.pending is None and self.retry_at is None and now >= self.recheck_at:
            # not armed and nothing scheduled: readiness may have changed
            # (a reservation, a kernel image, kexec-tools appearing)
            self.request("re-check", now, settle=False)

    def next_wakeup(self, now: float) -> float:
        times = [self.next_poll]
        if self.pending is not None:
            times.append(max(self.pending.due, self.retry_at or 0.0))
        if self.watchdog:
            times.append(self.next_watchdog)
        return max(now, min(times))

    # --- arming --------------------------------------------------------------

    def attempt(self, reason: str, now: float, reload: bool = False) -> bool:
        """One arm attempt; never raises for a problem of the machine."""
        try:
            armed = self._attempt(reason, now, reload)
            self._note_degraded(armed)
            if armed:  # the boot ledger: an armed boot that never stops is an unclean end
                note_armed(self.paths, self.last_readiness)
            return armed
        except ArmError as exc:
            self._failed(reason, str(exc), exc.stderr, exc.argv, now, reload)
        except Exception as exc:  # a bug must not kill the daemon; report and retry later
            log.exception("unexpected error while arming")
            self._failed(reason, f"internal error: {exc}", "", [], now, reload)
        return False

    def _attempt(self, reason: str, now: float, reload: bool) -> bool:
        cfg = self.config
        assert cfg is not None
        if self.holding:
            self._base_status = "disarmed by 'crashd disarm'; run 'crashd arm' to arm again"
            return False
        if not cfg.arm.enabled:
            self.armed_plan = None
            where = cfg.origins.get(("arm", "enabled"), "config")
            if crash_loaded(self.paths):
                # we do not unload on our own: that is what 'crashd disarm' is for
                self._base_status = (f"arming disabled by [arm] enabled = no ({where}), but a capture kernel "
                                     "is still loaded; 'crashd disarm' unloads it")
            else:
                self._base_status = f"not armed: disabled by [arm] enabled = no ({where})"
            return False
        readiness = self.last_readiness = assess(self.paths, self.tools, cfg)
        if not readiness.ready:
            problem, code = blocking_problem(readiness)
            if code in REBOOT_ONLY_CAUSES:
                self.recheck_delay = min(max(self.poll, self.recheck_delay * 2), BACKOFF_MAX)
            else:
                self.recheck_delay = 0.0
            self.recheck_at = now + self.recheck_delay
            if readiness.armed:
                # something is loaded (our earlier load, or another tool's): it still
                # catches a crash, but we cannot load a fresh one
                self._base_status = f"armed, but cannot re-arm: {problem}"
            else:
                self.armed_plan = None
                self._base_status = f"not armed: {problem}"
            if problem != self.last_cause:
                self.last_cause = problem
                # the journal event is also the log line (it falls back to logging)
                self.journal.event("arm_failed", f"Capture kernel not armed: {problem}", priority=4, reason=code)
                if not readiness.armed:
                    self._write_state(ArmState(armed=False, since=now_iso(), reason=reason, last_error=problem))
            return False
        boot = readiness.boot_files
        plan = plan_for(self.paths, cfg, boot, readiness.auto_file_load, self.arch, network=readiness.capture_network)
        state = read_state(self.paths)
        if (
            not reload and state is not None and state.armed and readiness.armed
            and state.argv == load_argv(plan) and state.fingerprint == fingerprint(self.paths, plan)
        ):
            # already loaded with exactly this plan (an earlier run, or 'crashd arm')
            if self.armed_plan != plan:
                log.info("capture kernel already armed with the current plan (%s)", state.reason)
                self.arm_count += 1
                self.armed_topology = None  # loaded by an earlier run: for which CPUs and RAM is unknown
            self._armed(plan, boot.release, state.reserved, _parse_since(state.since))
            return True
        topo = topology(self.paths)
        if reload and readiness.armed and self.armed_plan == plan and self.armed_topology == topo:
            log.info("%s: CPUs and memory are as they were when armed; no re-arm needed", reason)
            return True
        log.info("arming (%s): %s", reason, " ".join(load_argv(plan)))
        self.kexec.load(plan)
        self.armed_topology = topo
        first = self.arm_count == 0
        self.arm_count += 1
        new_state = arm_state(self.paths, plan, boot.release, reason)
        self._write_state(new_state)
        reserved = new_state.reserved
        size = f", {reserved >> 20} MiB reserved" if reserved else ""
        fields: dict[str, Any] = dict(reason=reason, release=boot.release, kernel=new_state.kernel, initrd=new_state.initrd,
                      dtb=new_state.dtb, cmdline=plan.cmdline, file_load=int(plan.file_load), reserved=reserved)
        if first:
            self.journal.event("armed", f"Capture kernel armed: {boot.release}{size} ({reason})", **fields)
        else:
            self.journal.event("rearmed", f"Capture kernel re-armed: {reason}", **fields)
        notifiers = post_notifiers(self.paths)
        if notifiers is not None and first:
            log.info("crash_kexec_post_notifiers=%s (left as is)", "Y" if notifiers else "N")
        self._armed(plan, boot.release, reserved, datetime.now(), "" if first else f"re-armed: {reason}")
        return True

    def _armed(self, plan: LoadPlan, release: str, reserved: int | None, since: datetime, note: str = "") -> None:
        same = self.armed_plan == plan
        self.armed_plan = plan
        self.armed_release = release
        self.watch.reset(plan_files(self.paths, plan))
        self.retry_at = None
        self.backoff = 0.0
        self.recheck_delay = 0.0
        self.last_cause = None
        if not note and same and self._base_status.startswith("armed: "):
            return  # adopting what we already report: keep its note
        self._base_status = armed_status(release, reserved, since, note)

    def _failed(self, reason: str, cause: str, stderr: str, argv: list[str], now: float, reload: bool) -> None:
        self.armed_plan = None
        self.backoff = BACKOFF_FIRST if self.backoff == 0 else min(self.backoff * 2, BACKOFF_MAX)
        self.retry_at = now + self.backoff
        self.pending = Pending(reason, now, self.retry_at, reload=reload)
        self._base_status = f"not armed: {cause}; retrying in {int(self.backoff)}s"
        if cause != self.last_cause:
            self.last_cause = cause
            self.journal.event("arm_failed", f"Arming the capture kernel failed: {cause}", priority=3,
                               reason="kexec_failed", stderr=stderr.strip() or None,
                               argv=" ".join(argv) or None)
        else:
            log.debug("arming failed again (same cause); next try in %ss", self.backoff)
        self._write_state(ArmState(armed=False, since=now_iso(), reason="arm failed", last_error=cause))

    # --- helpers -----------------------------------------------------------

    def _note_degraded(self, armed: bool) -> None:
        """Armed into a capture that is expected to fail: say so in STATUS= and, once, the journal."""
        readiness = self.last_readiness
        text = readiness.degraded_text() if armed and readiness is not None else ""
        if text == self.degraded_note:
            return
        self.degraded_note = text
        if text and readiness is not None:
            first = readiness.degraded()[0]
            self.journal.event("arm_degraded", f"Capture kernel {text}", priority=4, reason=first.reason,
                               check=first.name, **{k: v for k, v in first.evidence.items()
                                                    if k in ("needed_mib", "reserved_mib")})

    def status_text(self) -> str:
        text = self._base_status
        if self.degraded_note and text.startswith("armed: "):
            text = f"{self.degraded_note} ({text.removeprefix('armed: ')})"
        if self.config_problem:
            text += f"; {self.config_problem}"
        return text

    def _apply_policy(self) -> None:
        assert self.config is not None
        self.policy.apply(self.config.panic)
        state = read_state(self.paths)
        if state is not None:
            self._write_state(state)

    def _write_state(self, state: ArmState, originals: dict[str, str] | None = None) -> None:
        from dataclasses import replace

        pending = self.policy.pending_originals() if originals is None else originals
        try:
            write_state(self.paths, replace(state, sysctl_originals=pending))
        except (OSError, CrashdError) as exc:  # /run/crashd unwritable or replaced by a symlink: say so, go on
            log.error("cannot write %s: %s", self.paths.unhost(self.paths.state_dir), exc)

    def _report_problems(self, report: ConfigReport) -> None:
        for problem in report.problems:
            (log.error if problem.severity == "error" else log.warning)("config: %s", problem)

    # --- the loop ------------------------------------------------------------

    def run(self) -> int:
        """Wait for signals, hotplug events and timers until SIGTERM/SIGINT."""
        rsock, wsock = socket.socketpair()
        rsock.setblocking(False)
        wsock.setblocking(False)
        old_wakeup = signal.set_wakeup_fd(wsock.fileno())
        handled = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
        previous = {s: signal.signal(s, lambda signum, frame: self._signals.append(signum)) for s in handled}
        sel = selectors.DefaultSelector()
        sel.register(rsock, selectors.EVENT_READ, "signal")
        if self.hotplug is not None:
            sel.register(self.hotplug.fileno(), selectors.EVENT_READ, "hotplug")
        try:
            self.start()
            while not self.stopped:
                now = self.clock()
                for key, _ in sel.select(max(0.0, self.next_wakeup(now) - now)):
                    if key.data == "signal":
                        try:
                            rsock.recv(4096)
                        except BlockingIOError:
                            pass
                    elif self.hotplug is not None:
                        try:
                            events = self.hotplug.drain()
                        except OSError as exc:  # the socket broke: keep the daemon, lose only hotplug
                            log.warning("not watching CPU/memory hotplug any more: %s", exc)
                            sel.unregister(self.hotplug.fileno())
                            self.hotplug.close()
                            self.hotplug = None
                        else:
                            self.on_hotplug(events, self.clock())
                while self._signals and not self.stopped:
                    self.on_signal(self._signals.pop(0), self.clock())
                self.tick(self.clock())
        finally:
            sel.close()
            signal.set_wakeup_fd(old_wakeup)
            for s, handler in previous.items():
                signal.signal(s, handler)
            rsock.close()
            wsock.close()
            if self.hotplug is not None:
                self.hotplug.close()
            self.notifier.close()
        return 0


def blocking_problem(readiness: Readiness) -> tuple[str, str]:
    """("<what> — <fix>", reason code) of the first check that blocks arming."""
    blocking = readiness.blocking()
    if not blocking:
        return "not ready", "not_ready"
    first = blocking[0]
    what = first.title or first.reason
    return (f"{what} — {first.hint}" if first.hint else what), first.reason


def _parse_since(text: str | None) -> datetime:
    try:
        return datetime.fromisoformat(text).astimezone() if text else datetime.now()
    except ValueError:
        return datetime.now()


def watchdog_from_env() -> float | None:
    from crashd.core.notify import watchdog_interval

    return watchdog_interval(os.environ)
