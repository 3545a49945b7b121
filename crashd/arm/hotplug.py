"""CPU and memory hotplug events, the reason a loaded capture kernel goes stale.

The capture kernel's ELF headers list the CPUs and memory present at load time.
When the kernel maintains them itself (``/sys/devices/system/{cpu,memory}/
crash_hotplug`` reads 1: Linux 6.6+ with ``CONFIG_CRASH_HOTPLUG``) a re-arm is wasted
work, so such events are ignored. A thin adapter over ``pyudev.Monitor``; tests
use :class:`PipeSource`, which feeds events through a pipe the same way (libudev
cannot be pointed at a fake ``/sys``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from crashd.core.paths import HostPaths

__all__ = [
    "ACTIONS",
    "HotplugEvent",
    "HotplugSource",
    "PipeSource",
    "SUBSYSTEMS",
    "Topology",
    "UdevSource",
    "kernel_updates_headers",
    "relevant",
    "topology",
]

SUBSYSTEMS = ("cpu", "memory")
# cpu: add/remove (physical), online/offline (logical); memory: online/offline.
ACTIONS = frozenset({"add", "remove", "online", "offline"})


@dataclass(frozen=True)
class Topology:
    """What the capture kernel's ELF headers describe: the CPUs and the System RAM ranges.

    kexec builds one PT_NOTE per CPU and one PT_LOAD per "System RAM" range of
    /proc/iomem. A udev event that leaves all of these as they were (udev's coldplug
    "add" at boot, a driver binding to a CPU) needs no re-arm — and a re-arm is not
    free: the kernel drops the old image before loading the new one, so for the
    seconds a load takes nothing would catch a crash.
    """

    cpus_present: str
    cpus_online: str
    ram: tuple[str, ...]


def topology(paths: HostPaths) -> Topology:
    def read(path: str) -> str:
        try:
            return paths.sys("devices", "system", "cpu", path).read_text().strip()
        except OSError:
            return "?"

    try:
        iomem = paths.iomem.read_text(errors="replace").splitlines()
    except OSError:
        iomem = []
    ram = tuple(line.split(":", 1)[0].strip() for line in iomem if line.rstrip().endswith(": System RAM"))
    return Topology(read("present"), read("online"), ram)


@dataclass(frozen=True)
class HotplugEvent:
    subsystem: str
    action: str
    name: str


class HotplugSource(Protocol):
    """Something the daemon can select() on and then drain."""

    def fileno(self) -> int: ...

    def drain(self) -> list[HotplugEvent]: ...

    def close(self) -> None: ...


def kernel_updates_headers(paths: HostPaths, subsystem: str) -> bool:
    """True when the kernel updates the crash headers itself for ``subsystem``."""
    try:
        return paths.sys("devices", "system", subsystem, "crash_hotplug").read_text().strip() == "1"
    except OSError:
        return False


def relevant(events: list[HotplugEvent], paths: HostPaths) -> list[HotplugEvent]:
    """The events that need a re-arm."""
    skip = {s for s in SUBSYSTEMS if kernel_updates_headers(paths, s)}
    return [e for e in events if e.subsystem in SUBSYSTEMS and e.subsystem not in skip and e.action in ACTIONS]


class UdevSource:
    """pyudev netlink monitor on ``cpu`` and ``memory`` (imported lazily)."""

    def __init__(self) -> None:
        import pyudev

        self._monitor: Any = pyudev.Monitor.from_netlink(pyudev.Context())
        for subsystem in SUBSYSTEMS:
            self._monitor.filter_by(subsystem)
        self._monitor.start()

    def fileno(self) -> int:
        return int(self._monitor.fileno())

    def drain(self) -> list[HotplugEvent]:
        events: list[HotplugEvent] = []
        while True:
            device = self._monitor.poll(timeout=0)
            if device is None:
                return events
            events.append(HotplugEvent(device.subsystem or "", device.action or "", device.sys_name or ""))

    def close(self) -> None:
        # pyudev has no explicit close; dropping the monitor closes the socket
        self._monitor = None


class PipeSource:
    """A fake udev monitor: :meth:`inject` writes one event line into a pipe."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._buf = b""

    def inject(self, subsystem: str, action: str, name: str) -> None:
        os.write(self._w, f"{subsystem} {action} {name}\n".encode())

    def fileno(self) -> int:
        return self._r

    def drain(self) -> list[HotplugEvent]:
        while True:
            try:
                chunk = os.read(self._r, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._buf += chunk
        *lines, self._buf = self._buf.split(b"\n")
        return [HotplugEvent(*line.decode().split(" ", 2)) for line in lines if line.count(b" ") >= 2]

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
