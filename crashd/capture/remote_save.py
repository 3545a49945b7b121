"""The save's ssh step: the dump to the server first, then the local record.

Called by :class:`crashd.capture.save.Saver` after ``dmesg.txt`` is in the local
capture directory (on the default ``/var/crash`` target, as kdumpctl keeps
vmcore-dmesg.txt locally), so after the reboot ingest finds the kernel log,
and capture.json's ``remote_location`` says where the dump lives. If the server
cannot be reached or the stream fails, the errors are recorded and the caller
saves the dump locally (the fallback chain: remote -> local -> dmesg only).

Time: reaching the server is bounded by :data:`CONNECT_DEADLINE` (the network may
never come up), the stream by the save's own time bound; each leaves the local
fallback time to run because it is bounded by the same ``Saver.deadline``.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from crashd.capture import remote_ssh
from crashd.capture.makedumpfile import FLAGS, MESSAGE_LEVEL, choose_compression, features
from crashd.capture.spool import DMESG_FILE, Spool
from crashd.core.remote import SshTarget

if TYPE_CHECKING:
    from crashd.capture.save import Saver

__all__ = ["CONNECT_DEADLINE", "over_ssh", "producer_argv"]

CONNECT_DEADLINE = 120.0  # seconds to reach the server (16 attempts, 10 s connect timeout each)


def producer_argv(codec: str, level: int, vmcore: str) -> list[str]:
    """``makedumpfile -F``: the flattened format, written to stdout for the pipe."""
    return ["makedumpfile", "-F", "-E" if codec == "none" else FLAGS[codec], "-d", str(level),
            "--message-level", MESSAGE_LEVEL, vmcore]


def _dmesg(spool: Spool) -> str | None:
    try:
        fd = os.open(DMESG_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=spool.fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read().decode("utf-8", "replace")


def over_ssh(saver: Saver, spool: Spool, target: SshTarget) -> bool:
    """True when the dump is published on the server (record updated); False with
    the reason in ``errors`` when the local target must take the dump."""
    log = saver.log
    if saver.tools.which("makedumpfile") is None:
        log.error(f"capture target {target.url}: makedumpfile is not installed (needed for -F over ssh)")
        return False
    codec, note = choose_compression(saver.config.compression, features(saver.tools))
    if note:
        log.step(note)
    level = saver.config.dump_level[0]
    opts = remote_ssh.key_paths(saver.paths.etc())
    ssh = remote_ssh.SshSpool(saver.tools, target, opts, deadline=saver.deadline)
    record = dict(saver.record, collector="makedumpfile", dump_level=level, compression=codec)
    try:
        location = remote_ssh.capture(
            ssh, spool.name, _dmesg(spool), producer_argv(codec, level, str(saver.paths.vmcore)), record, log.step,
            connect_deadline=time.monotonic() + CONNECT_DEADLINE,
        )
    except remote_ssh.RemoteError as exc:
        log.error(f"{exc} -> the dump goes to the local target")
        return False
    saver.record.update({"collector": "makedumpfile", "dump_level": level, "compression": codec, "dump_file": None,
                         "complete": True, "remote_location": location})
    log.step(f"dump saved on the server: {location}")
    return True
