"""Hotplug events from the kernel's uevent netlink socket (no libudev): the message format, the
sender check, a lost-events overflow, and a real socket refusing a forged uevent."""

from __future__ import annotations

import errno
import select
import socket
from collections import deque

import pytest

from crashd.arm.hotplug import (
    KERNEL_GROUP,
    NETLINK_KOBJECT_UEVENT,
    OVERFLOW,
    HotplugEvent,
    UeventSource,
    parse_uevent,
)


def kernel_message(action: str, devpath: str, subsystem: str, seqnum: int = 4711) -> bytes:
    """What lib/kobject_uevent.c sends: "ACTION@DEVPATH", then the environment, NUL-terminated."""
    env = [f"ACTION={action}", f"DEVPATH={devpath}", f"SUBSYSTEM={subsystem}", f"SEQNUM={seqnum}"]
    return f"{action}@{devpath}\0".encode() + b"".join(e.encode() + b"\0" for e in env)


def test_the_kernels_cpu_and_memory_messages_parse() -> None:
    assert parse_uevent(kernel_message("offline", "/devices/system/cpu/cpu1", "cpu")) == \
        HotplugEvent("cpu", "offline", "cpu1")
    assert parse_uevent(kernel_message("online", "/devices/system/memory/memory40", "memory")) == \
        HotplugEvent("memory", "online", "memory40")


@pytest.mark.parametrize("data", [
    b"",
    b"\0\0\0",
    b"libudev\0\xfe\xed\xca\xfe" + b"\0" * 32,  # udevd's re-broadcast (group 2), never the kernel's
    b"add@relative/path\0SUBSYSTEM=cpu\0",
    b"@/devices/system/cpu/cpu1\0SUBSYSTEM=cpu\0",
])
def test_anything_else_is_not_an_event(data: bytes) -> None:
    assert parse_uevent(data) is None


class FakeNetlink:
    """recvfrom() as a nonblocking netlink socket answers: (datagram, (port id, groups)), then
    BlockingIOError; an OSError in the queue is raised, as the kernel reports ENOBUFS."""

    def __init__(self, items: list[tuple[bytes, tuple[int, int]] | OSError]) -> None:
        self.items = deque(items)
        self.closed = False

    def recvfrom(self, size: int) -> tuple[bytes, tuple[int, int]]:
        if not self.items:
            raise BlockingIOError(errno.EAGAIN, "no more")
        item = self.items.popleft()
        if isinstance(item, OSError):
            raise item
        return item[0][:size], item[1]

    def fileno(self) -> int:
        return 99

    def close(self) -> None:
        self.closed = True


def test_only_the_kernels_cpu_and_memory_events_are_kept() -> None:
    kernel = (0, KERNEL_GROUP)
    fake = FakeNetlink([
        (kernel_message("offline", "/devices/system/cpu/cpu1", "cpu"), kernel),
        (kernel_message("offline", "/devices/system/cpu/cpu2", "cpu"), (4242, KERNEL_GROUP)),  # a process
        (kernel_message("add", "/devices/virtual/net/veth0", "net"), kernel),
        (b"garbage", kernel),
        (kernel_message("online", "/devices/system/memory/memory7", "memory"), kernel),
    ])
    source = UeventSource(fake)  # type: ignore[arg-type]
    assert source.drain() == [HotplugEvent("cpu", "offline", "cpu1"), HotplugEvent("memory", "online", "memory7")]
    assert source.forged == 1
    assert source.drain() == []
    source.close()
    assert fake.closed and source.fileno() == -1 and source.drain() == []


def test_lost_events_say_something_changed_and_the_rest_is_still_read() -> None:
    fake = FakeNetlink([OSError(errno.ENOBUFS, "No buffer space available"),
                        (kernel_message("online", "/devices/system/cpu/cpu3", "cpu"), (0, KERNEL_GROUP))])
    source = UeventSource(fake)  # type: ignore[arg-type]
    assert source.drain() == [OVERFLOW, HotplugEvent("cpu", "online", "cpu3")]


def test_another_socket_error_is_not_swallowed() -> None:
    source = UeventSource(FakeNetlink([OSError(errno.EBADF, "Bad file descriptor")]))  # type: ignore[arg-type]
    with pytest.raises(OSError):
        source.drain()


def _real_source() -> UeventSource:
    try:
        return UeventSource()
    except OSError as exc:  # a sandbox without the uevent netlink family
        pytest.skip(f"no NETLINK_KOBJECT_UEVENT here: {exc}")


def test_a_real_socket_refuses_a_uevent_forged_by_a_process() -> None:
    source = _real_source()
    try:
        sender = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
        sender.bind((0, 0))
        forged = kernel_message("offline", "/devices/system/cpu/cpu977", "cpu")
        try:
            sender.sendto(forged, (0, KERNEL_GROUP))
        except PermissionError:
            pytest.skip("sending to the uevent group needs CAP_NET_ADMIN")
        finally:
            sender.close()
        ready, _, _ = select.select([source.fileno()], [], [], 5)
        assert ready, "the forged datagram never arrived: the test would prove nothing"
        events = source.drain()
        assert all(e.name != "cpu977" for e in events), events
        assert source.forged >= 1
    finally:
        source.close()
