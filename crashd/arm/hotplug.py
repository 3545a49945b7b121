"""CPU and memory hotplug events, the reason a loaded capture kernel goes stale.

The capture kernel's ELF headers list the CPUs and memory present at load time.
When the kernel maintains them itself (``/sys/devices/system/{cpu,memory}/
crash_hotplug`` reads 1: Linux 6.6+ with ``CONFIG_CRASH_HOTPLUG``) a re-arm is wasted
work, so such events are ignored.

The events come from the kernel itself: :class:`UeventSource` is a ``NETLINK_KOBJECT_UEVENT``
socket bound to the kernel's multicast group (1), the one udevd itself listens on. No libudev,
no pyudev: on a board that is python3-pyudev and, through its Recommends, glib and python3-gi
(tens of MB of flash) saved, and the daemon does not depend on udevd running. Only datagrams
whose netlink sender is the kernel (port id 0) count; a root process sending a forged uevent to
the group is ignored. Tests use :class:`PipeSource`, which feeds events through a pipe the same
way, and :func:`parse_uevent` on the kernel's own message format.
"""

from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from typing import Protocol

from crashd.core.paths import HostPaths

__all__ = [
    "ACTIONS",
    "HotplugEvent",
    "HotplugSource",
    "PipeSource",
    "SUBSYSTEMS",
    "Topology",
    "UeventSource",
    "from_kernel",
    "kernel_updates_headers",
    "parse_uevent",
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


NETLINK_KOBJECT_UEVENT = 15  # <linux/netlink.h>; not in Python's socket module
KERNEL_GROUP = 1  # the kernel's uevents (udevd re-broadcasts processed ones on group 2)
UEVENT_BUFFER = 2048  # UEVENT_BUFFER_SIZE in <linux/kobject.h>: one uevent is at most this
RECEIVE_BUFFER = 1 << 20  # hotplugging a memory DIMM sends one uevent per 128 MiB block
OVERFLOW = HotplugEvent("memory", "online", "(events lost: receive buffer overflowed)")


def parse_uevent(data: bytes) -> HotplugEvent | None:
    """The kernel's uevent message: ``ACTION@DEVPATH`` then ``KEY=VALUE`` strings, NUL-separated.

    None for anything else (a message without the header, or udevd's ``libudev`` format)."""
    head, _, rest = data.partition(b"\0")
    action, at, devpath = head.partition(b"@")
    if not at or not action or not devpath.startswith(b"/"):
        return None
    env: dict[bytes, bytes] = {}
    for item in rest.split(b"\0"):
        key, eq, value = item.partition(b"=")
        if eq:
            env[key] = value
    subsystem = env.get(b"SUBSYSTEM", b"")
    name = devpath.rstrip(b"/").rsplit(b"/", 1)[-1]
    return HotplugEvent(subsystem.decode(errors="replace"), env.get(b"ACTION", action).decode(errors="replace"),
                        name.decode(errors="replace"))


def from_kernel(address: object) -> bool:
    """True for a netlink source address ``(port id, groups)`` whose port id is the kernel's (0)."""
    return isinstance(address, tuple) and len(address) == 2 and address[0] == 0


class UeventSource:
    """The kernel's uevents for ``cpu`` and ``memory``, from a netlink socket (``sock``: for tests,
    any datagram socket whose ``recvfrom`` gives netlink-shaped addresses)."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                 NETLINK_KOBJECT_UEVENT)
            try:
                try:  # past rmem_max when we may (root); the kernel's default otherwise
                    sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), RECEIVE_BUFFER)
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
                sock.bind((0, KERNEL_GROUP))
            except OSError:
                sock.close()
                raise
        self._sock: socket.socket | None = sock
        self.forged = 0  # datagrams refused: not sent by the kernel

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def drain(self) -> list[HotplugEvent]:
        events: list[HotplugEvent] = []
        if self._sock is None:
            return events
        while True:
            try:
                data, address = self._sock.recvfrom(UEVENT_BUFFER)
            except (BlockingIOError, InterruptedError):
                return events
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # some were dropped: say something changed, re-check
                    events.append(OVERFLOW)
                    continue
                raise
            if not from_kernel(address):
                self.forged += 1
                continue
            event = parse_uevent(data)
            if event is not None and event.subsystem in SUBSYSTEMS:
                events.append(event)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


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
