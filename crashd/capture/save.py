"""The save, start to end: target, dmesg, dump (with its fallback chain), capture.json.

Fallback chain for the dump, each step recorded in capture.json ``steps``:

1. makedumpfile (``collector`` auto and installed, or makedumpfile) at each
   ``dump_level`` in turn; it is given the space budget as ``-L`` so it stops
   before eating ``min_free``. Out of space → delete *this* partial file, next
   level. Any other failure (e.g. a kernel it does not understand) → native copy.
2. native copy (``collector`` copy, auto without makedumpfile, or after 1 failed
   for another reason than space) if the vmcore's size fits the budget.
3. dmesg only.

Every collector is bounded (issue 10 A: the capture kernel must always end): a
makedumpfile whose output and I/O stand still for ``stall_timeout`` seconds is
killed and the next level runs (after the last level: the native copy, which a
:class:`~crashd.capture.watchdog.Watchdog` bounds the same way); the whole save
has a time bound (``max_seconds``, or 10 min plus 1 min per GiB of the dump),
after which no further step starts and a running one is stopped, so capture.json
is written and the final action requested. Each kill is an error in capture.json.

**complete** (in capture.json) means: the file named by ``dump_file`` holds the
whole dump the collector produced at ``dump_level``, the collector reported
success, every page could be read, and the file was fsync'd. Anything less —
dmesg only, unreadable pages, no dump at all — is ``complete: false`` with the
reasons in ``errors``. A directory's final name (no ``.incomplete``) only says
that capture.json itself is whole.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from crashd.capture import copy as copy_mod
from crashd.capture import netup, remote_save, testhooks
from crashd.capture.dmesg import save_dmesg
from crashd.capture.layout import Layout, read_layout
from crashd.capture.memstat import MemoryWatch
from crashd.capture.progress import Progress
from crashd.capture.space import Space, StatVfs, mib
from crashd.capture.spool import CAPTURE_JSON, ELF_DUMP, KDUMP_DUMP, SPOOL_DIR, CaptureInfo, Spool, ensure_spool_dir
from crashd.capture.watchdog import Stalled, Watchdog
from crashd.core.cmdline import param
from crashd.core.errors import CrashdError
from crashd.core.hostinfo import read_identity
from crashd.core.notify import Notifier
from crashd.core.paths import HostPaths
from crashd.core.remote import SshTarget, is_remote, parse_remote
from crashd.core.settings import CaptureConfig, setting
from crashd.core.target import MOUNT_DEADLINE, open_target
from crashd.core.tools import ToolRunner

__all__ = [
    "BASE_SECONDS", "Outcome", "SCHEMA", "SECONDS_PER_GIB", "Saver", "crashed_boot_id", "log", "selftest_id", "time_bound"]

log = logging.getLogger(__name__)
SCHEMA = 1
BASE_SECONDS = 600  # the derived time bound: 10 min ...
SECONDS_PER_GIB = 60  # ... plus 1 min per GiB of the dump (a floor of ~18 MB/s)


def time_bound(max_seconds: int, dump_size: int | None) -> int:
    """Seconds the whole save may take: ``[capture] max_seconds``, or derived from
    the dump's size when that is 0."""
    if max_seconds > 0:
        return max_seconds
    return BASE_SECONDS + SECONDS_PER_GIB * -(-(dump_size or 0) // (1 << 30))


@dataclass
class Outcome:
    """What happened; ``record`` is exactly what capture.json holds."""

    complete: bool
    directory: Path | None
    record: CaptureInfo
    errors: list[str] = field(default_factory=list)


class _Log:
    """Steps and errors, printed to the console as they happen."""

    def __init__(self, console: TextIO):
        self.console = console
        self.steps: list[str] = []
        self.errors: list[str] = []

    def step(self, text: str) -> None:
        self.steps.append(text)
        print(f"crashd save: {text}", file=self.console, flush=True)

    def error(self, text: str) -> None:
        self.errors.append(text)
        print(f"crashd save: error: {text}", file=self.console, flush=True)


def crashed_boot_id(cmdline: str) -> str | None:
    """The 32-hex boot id crashd put on the capture command line."""
    raw = param(cmdline, "crashd.boot_id")
    if not raw:
        return None
    value = raw.replace("-", "").lower()
    return value if re.fullmatch(r"[0-9a-f]{32}", value) else None


def selftest_id(cmdline: str) -> str | None:
    """The self-test id ``crashd test --crash`` put on the capture command line (16 hex digits)."""
    raw = param(cmdline, "crashd.test_id")
    return raw if raw and re.fullmatch(r"[0-9a-f]{16}", raw) else None


def _empty_record() -> CaptureInfo:
    return {
        "schema": SCHEMA,
        "collector": "dmesg-only",
        "dump_level": None,
        "compression": None,
        "dump_file": None,
        "dmesg": False,
        "bytes_written": 0,
        "estimated_size": None,
        "seconds": 0.0,
        "started": "",
        "finished": None,
        "crashed_boot_id": None,
        "test_id": None,
        "kernel_release": None,
        "complete": False,
        "errors": [],
        "steps": [],
    }


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class Saver:
    """One save. Collaborators are injected so tests can run it in-process."""

    def __init__(
        self,
        paths: HostPaths,
        tools: ToolRunner,
        config: CaptureConfig,
        *,
        notifier: Notifier | None = None,
        console: TextIO | None = None,
        statvfs: StatVfs = os.statvfs,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        mount_deadline: float | None = None,
    ):
        self.paths = paths
        self.tools = tools
        self.config = config
        self.notifier = notifier
        self.console = console if console is not None else sys.stdout
        self.statvfs = statvfs
        self.now = now
        self.mount_deadline = mount_deadline
        self.log = _Log(self.console)
        self.ssh_target: SshTarget | None = None
        self.record: CaptureInfo = _empty_record()
        self.memory: MemoryWatch | None = None
        self.t0 = time.monotonic()
        self.bound = time_bound(config.max_seconds, None)

    # ------------------------------------------------------------ the time bound
    @property
    def deadline(self) -> float:
        return self.t0 + self.bound

    @property
    def bound_text(self) -> str:
        return f"the save's time bound of {self.bound} s"

    def _out_of_time(self, what: str) -> bool:
        """True (and an error naming ``what`` was skipped) once the bound passed."""
        if time.monotonic() < self.deadline:
            return False
        self.log.error(f"{self.bound_text} was reached: {what} skipped -> keeping what is saved")
        return True

    # ------------------------------------------------------------ entry
    def run(self) -> Outcome:
        started = self.now()
        t0 = self.t0 = time.monotonic()
        self.memory = MemoryWatch(self.paths.proc("meminfo"))
        try:
            cmdline = self.paths.cmdline.read_text(errors="replace")
        except OSError:
            cmdline = ""
        boot_id = crashed_boot_id(cmdline)
        bootid8 = boot_id[:8] if boot_id else "unknown0"
        self.record = _empty_record()
        identity = read_identity(self.paths)
        self.record.update(
            {
                "hostname": identity.hostname,
                "machine_id": identity.machine_id,
                "started": _iso(started),
                "crashed_boot_id": boot_id,
                "test_id": selftest_id(cmdline),
                "errors": self.log.errors,  # the same lists: what the log says is what capture.json says
                "steps": self.log.steps,
            }
        )
        deadline = testhooks.mount_deadline(MOUNT_DEADLINE) if self.mount_deadline is None else self.mount_deadline
        tried: Path | None = None
        local_target = self._remote_first(self.config.target)
        if self._network_failed():
            if self.ssh_target is not None:
                self.ssh_target = None  # straight to the local target: no retries against a network that is not there
            elif local_target == self.config.target:  # nfs: nothing to mount
                directory = self._fallback(None, started, bootid8, t0)
                return Outcome(bool(self.record["complete"]) and directory is not None, directory, self.record,
                               self.log.errors)
        try:
            with open_target(
                local_target, self.config.mount_options, self.paths, self.tools, deadline=deadline
            ) as target:
                tried = target.path
                spool = self._open_spool(target.path, target.display, started, bootid8)
                if spool is not None:
                    directory = self._save_into(spool, target.display, t0, dump=True)
                    if directory is not None and target.mounted and is_remote(self.config.target):
                        self._keep_locally(directory, started, bootid8)
                    return Outcome(
                        bool(self.record["complete"]) and directory is not None, directory, self.record, self.log.errors
                    )
        except CrashdError as exc:  # TargetError: not mounted, not writable
            self.log.error(str(exc))
        except OSError as exc:
            self.log.error(f"capture target {self.config.target}: {exc.strerror or exc}")
        directory = self._fallback(tried, started, bootid8, t0)
        # complete only when the fallback took the dump (a remote target's local directory)
        return Outcome(bool(self.record["complete"]) and directory is not None, directory, self.record,
                       self.log.errors)

    def _keep_locally(self, published: Path, started: dt.datetime, bootid8: str) -> None:
        """An NFS capture: ``dmesg.txt`` and capture.json (with ``remote_location``) also in
        the root file system's spool, as kdumpctl keeps vmcore-dmesg.txt locally, so the
        next boot's ingest (which does not mount the server) makes the record."""
        default = setting("capture", "target").default
        path = self.paths.host(default)
        if not path.is_dir():
            return
        remote = parse_remote(self.config.target)
        dump = self.record.get("dump_file")
        if remote is None or not isinstance(dump, str):
            return
        sub = published.relative_to(published.parent.parent)  # crashd/<name>
        location = f"{remote.url.rstrip('/')}/{sub}/{dump}"
        spool = self._open_spool(path, default, started, bootid8)
        if spool is None:
            return
        try:
            try:
                dmesg = (published / "dmesg.txt").read_bytes()
            except OSError:
                dmesg = None
            if dmesg is not None:
                spool.write_file("dmesg.txt", dmesg)
            local = dict(self.record, dump_file=None, remote_location=location)
            spool.write_file(CAPTURE_JSON, (json.dumps(local, sort_keys=True, indent=2) + "\n").encode())
            spool.publish()
            self.log.step(f"kernel log and capture.json also kept in {default}/{SPOOL_DIR}/{spool.name}")
        except OSError as exc:
            self.log.step(f"could not keep a local copy in {default}: {exc.strerror or exc}")
        finally:
            spool.close()

    def _network_failed(self) -> bool:
        """True (the reason in ``errors``) when a remote target's network did not come up
        (``crashd capture-network``'s result, crashd.capture.netup); a step when it did."""
        if not is_remote(self.config.target):
            return False
        result = netup.read_result(self.paths)
        if result is None:
            return False
        if result.ok:
            self.log.step(f"network {result.plan}: {result.message} ({result.seconds:.1f} s)")
            return False
        self.log.error(f"capture target {self.config.target}: the network did not come up: {result.message}"
                       " -> the dump goes to the local target")
        return True

    def _remote_first(self, value: str) -> str:
        """The local target to open: for ``ssh://`` the default directory (it keeps
        dmesg.txt and capture.json; the dump goes to the server first, see
        :mod:`crashd.capture.remote_save`); NFS and local targets unchanged."""
        try:
            remote = parse_remote(value)
        except ValueError as exc:
            self.log.error(f"capture target {value}: {exc}")
            return setting("capture", "target").default
        if isinstance(remote, SshTarget):
            self.ssh_target = remote
            return setting("capture", "target").default
        return value

    def _open_spool(self, target: Path, display: str, started: dt.datetime, bootid8: str) -> Spool | None:
        """A new capture directory in ``target``'s private spool; None (with the
        error recorded) when there is none to be had."""
        try:
            spool_dir, refusal = ensure_spool_dir(target, started)
            if refusal is not None:
                self.log.error(refusal)
            return Spool.create(spool_dir, started, bootid8)
        except CrashdError as exc:  # UnsafePathError, or no usable directory name
            self.log.error(f"capture target {display}: {exc}")
        except OSError as exc:
            self.log.error(f"capture directory in {display}: {exc.strerror or exc}")
        return None

    def _save_into(self, spool: Spool, display: str, t0: float, *, dump: bool) -> Path | None:
        try:
            self.log.step(
                f"saving {self.paths.unhost(self.paths.vmcore)} to {display}/{SPOOL_DIR}/{spool.name}"
                + ("" if dump else " (kernel log only)")
            )
            return self._fill(spool, display, t0, dump=dump)
        finally:
            spool.close()

    def _fallback(self, tried: Path | None, started: dt.datetime, bootid8: str, t0: float) -> Path | None:
        """The target could not be used: keep dmesg.txt and capture.json (with the
        reason in ``errors``) in the root file system's default spool, unless that
        is what just failed. The dump itself is not tried there: the root file
        system was not chosen for it and may be small."""
        default = setting("capture", "target").default
        path = self.paths.host(default)
        if tried == path or not path.is_dir():
            return None
        spool = self._open_spool(path, default, started, bootid8)
        if spool is None:
            return None
        remote = is_remote(self.config.target)  # remote -> the local directory target, with the dump
        self.log.step(f"capture target {self.config.target} unusable -> {'dump' if remote else 'kernel log'}"
                      f" to {default}/{SPOOL_DIR}")
        return self._save_into(spool, default, t0, dump=remote)

    # ------------------------------------------------------------ phases
    def _fill(self, spool: Spool, where: str, t0: float, *, dump: bool = True) -> Path | None:
        testhooks.kill_point("dmesg")
        self.record["dmesg"] = save_dmesg(spool, self.paths.vmcore, self.tools, self.log.steps, self.log.errors)
        testhooks.kill_point("dump")
        if dump and self.ssh_target is not None:
            dump = not remote_save.over_ssh(self, spool, self.ssh_target)
        try:
            if dump:
                self._dump(spool, where)
        except Exception as exc:  # noqa: BLE001 - record the bug, keep dmesg and publish
            log.debug("dump failed", exc_info=True)
            self.log.error(f"dump failed: {type(exc).__name__}: {exc}")
        sizes = [spool.size_of(n) or 0 for n in spool.files]
        self.record["bytes_written"] = sum(sizes)
        self.record["seconds"] = round(time.monotonic() - t0, 3)
        self.record["finished"] = _iso(self.now())
        if not self.record["complete"] and not self.log.errors:
            self.log.error("no complete dump was saved")
        if self.memory is not None:
            self.record["memory"] = self.memory.figures()
            print(f"crashd save: {MemoryWatch.describe(self.record['memory'])}", file=self.console, flush=True)
        testhooks.kill_point("json")
        body = json.dumps(self.record, sort_keys=True, indent=2) + "\n"
        try:
            spool.write_file(CAPTURE_JSON, body.encode())
            testhooks.kill_point("publish")
            return spool.publish()
        except OSError as exc:
            self.log.error(f"could not finish {spool.path}: {exc.strerror or exc}")
            self.record["complete"] = False
            return None

    def _dump(self, spool: Spool, where: str) -> None:
        vmcore = self.paths.vmcore
        space = Space(spool.parent, self.config.min_free, self.statvfs)
        fd = os.open(vmcore, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                layout: Layout | None = read_layout(fd)
            except CrashdError as exc:
                self.log.error(f"vmcore headers unreadable: {exc}")
                layout = None
            if layout is not None:
                self.record["kernel_release"] = layout.osrelease
                self.record["estimated_size"] = layout.file_size
            self.bound = time_bound(self.config.max_seconds, layout.file_size if layout else os.fstat(fd).st_size)
            collector = self._choose_collector()
            if collector == "makedumpfile":
                outcome = self._makedumpfile(spool, space, layout, where)
                if outcome != "broken":
                    return
            if layout is None:
                self.log.error("vmcore: cannot copy without its ELF headers; keeping dmesg only")
                return
            if self._out_of_time("the native copy"):
                return
            self._copy(spool, space, fd, layout, where)
        finally:
            os.close(fd)

    def _choose_collector(self) -> str:
        wanted = self.config.collector
        have = self.tools.which("makedumpfile") is not None
        if wanted == "makedumpfile" and not have:
            self.log.error("collector makedumpfile is configured but not installed; using the native copy")
            return "copy"
        if wanted == "auto":
            return "makedumpfile" if have else "copy"
        return wanted

    # ------------------------------------------------------------ collectors
    def _makedumpfile(self, spool: Spool, space: Space, layout: Layout | None, where: str) -> str:
        """Returns "done" (saved or out of space: stop) or "broken" (try copy)."""
        from crashd.capture import makedumpfile as mdf  # (and threading) only when used

        feats = mdf.features(self.tools)
        codec, note = mdf.choose_compression(self.config.compression, feats)
        if note:
            self.log.step(note)
        name = ELF_DUMP if codec == "none" else KDUMP_DUMP
        out = spool.free_path(name)
        upper = layout.file_size if layout else None
        stalled = False
        for level in self.config.dump_level:
            if self._out_of_time(f"makedumpfile -d {level}"):
                return "done"
            budget = space.budget()
            limit = None if upper is not None and upper <= budget else budget
            if budget < (1 << 20):
                self.log.error(
                    f"makedumpfile -d {level}: skipped, target has {mib(space.free())} free "
                    f"and {mib(self.config.min_free)} must stay free -> dmesg only"
                )
                return "done"
            argv = mdf.argv(codec, level, self.paths.vmcore, out, limit)
            progress = Progress(f"makedumpfile -d {level}", None, where, self.notifier, self.console,
                                sample=self._sample)
            result = mdf.run(
                self.tools,
                argv,
                out,
                on_tick=progress.update,
                tick=min(2.0, self.config.stall_timeout / 3),
                stall_timeout=self.config.stall_timeout,
                deadline=self.deadline,
                activity=lambda pid: mdf.io_bytes(self.paths.proc(str(pid), "io")),
                bound=self.bound_text,
            )
            if result.ok and spool.size_of(name) is not None:
                size = spool.adopt(name)
                seconds = progress.finish(size)
                self.record.update(
                    {"collector": "makedumpfile", "dump_level": level, "compression": codec, "dump_file": name}
                )
                self.record["complete"] = True
                self.log.step(f"makedumpfile -d {level} ({codec}): {size} bytes in {seconds:.1f} s")
                return "done"
            # Out of space if it says so, or if the target is full now (its wording
            # varies across versions); measured before the partial file goes.
            no_space = result.no_space or space.free() < self.config.min_free + (1 << 20)
            spool.remove(name)  # only ever this capture's partial file
            progress.finish(0, ok=False)
            if result.stalled is not None:
                if time.monotonic() >= self.deadline:
                    self.log.error(f"makedumpfile -d {level} stopped: {result.stalled}; killed -> keeping what is saved")
                    return "done"
                self.log.error(f"makedumpfile -d {level} stalled: {result.stalled}; killed")
                stalled = True
                continue
            stalled = False
            if no_space:
                self.log.error(f"makedumpfile -d {level} failed: ENOSPC ({result.message})")
                continue
            self.log.error(f"makedumpfile -d {level} failed (exit {result.returncode}): {result.message}")
            self.log.step("makedumpfile failed for another reason than space -> native copy")
            return "broken"
        if stalled:
            self.log.step("makedumpfile stalled at the last dump level -> native copy")
            return "broken"
        self.log.step("every dump level ran out of space -> dmesg only")
        return "done"

    def _sample(self) -> None:
        if self.memory is not None:
            self.memory.sample()

    def _copy(self, spool: Spool, space: Space, fd: int, layout: Layout, where: str) -> None:
        needed = layout.file_size
        budget = space.budget()
        if needed > budget:
            self.log.error(
                f"copy: vmcore is {mib(needed)}, target allows {mib(budget)} "
                f"(free minus min_free {mib(self.config.min_free)}) -> dmesg only"
            )
            return
        total = sum(end - start for start, end in layout.regions())
        progress = Progress("copy", total, where, self.notifier, self.console, sample=self._sample)
        out = spool.open_new(ELF_DUMP)
        try:
            with Watchdog(self.config.stall_timeout, self.deadline, bound=self.bound_text) as dog:
                result = copy_mod.copy_vmcore(fd, out, layout, space=space, progress=progress, watchdog=dog)
        except Stalled as exc:
            progress.finish(progress.done, ok=False)
            spool.remove(ELF_DUMP)
            verb = "stopped" if time.monotonic() >= self.deadline else "stalled"
            self.log.error(f"copy {verb}: {exc.reason} -> dmesg only")
            return
        except copy_mod.NoSpace as exc:
            progress.finish(progress.done, ok=False)
            spool.remove(ELF_DUMP)
            self.log.error(f"copy failed: ENOSPC ({exc}) -> dmesg only")
            return
        except (OSError, CrashdError) as exc:
            progress.finish(progress.done, ok=False)
            spool.remove(ELF_DUMP)
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.log.error(f"copy failed: {detail} -> dmesg only")
            return
        finally:
            os.close(out)
        progress.finish(result.size)
        self.record.update({"collector": "copy", "dump_level": None, "compression": None, "dump_file": ELF_DUMP})
        if result.unreadable_pages:
            self.log.error(f"copy: {result.unreadable_pages} blocks of the vmcore could not be read; saved as zeros")
        self.record["complete"] = result.unreadable_pages == 0
        self.log.step(
            f"copy: {result.size} bytes ({result.written} written, the rest holes) in {result.seconds:.1f} s"
        )
