"""Where dumps go: a directory, or a device mounted just for the save.

``[capture] target`` is either an absolute directory (default ``/var/crash``) or
a device: ``UUID=…``, ``LABEL=…``, ``PARTUUID=…``, ``PARTLABEL=…`` or ``/dev/…``,
or an NFS export (``nfs://HOST/EXPORT[/PATH]``, ``HOST:/EXPORT``: ``mount -t nfs -o nolock``).
A device is mounted (mount(8) resolves the tags itself) on a private mount point
under ``/run/crashd`` and the capture goes to the root of that file system; it is
unmounted afterwards so the data is on disk before the reboot. The capture kernel's
udev may announce the device late, so mounting is retried until a deadline.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crashd.core.errors import CrashdError, ToolError
from crashd.core.paths import HostPaths
from crashd.core.remote import NfsTarget, is_remote, parse_remote
from crashd.core.tools import ToolRunner

__all__ = ["DEVICE_PREFIXES", "MOUNT_DEADLINE", "MOUNT_TIMEOUT", "Target", "TargetError", "is_device", "open_target"]

DEVICE_PREFIXES = ("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=", "/dev/")
MOUNT_DEADLINE = 60.0  # seconds to wait for the device to appear and mount
MOUNT_TIMEOUT = 60.0  # one mount(8) call (a journal replay can take a while)


class TargetError(CrashdError):
    """The target cannot be used; carries the configured value."""

    def __init__(self, target: str, reason: str):
        self.target = target
        self.reason = reason
        super().__init__(f"capture target {target}: {reason}")


@dataclass(frozen=True)
class Target:
    path: Path  # the directory capture directories are made in
    display: str  # for messages: the configured value (and mount point)
    mounted: bool


def is_device(value: str) -> bool:
    return value.startswith(DEVICE_PREFIXES)


@contextmanager
def open_target(
    value: str,
    mount_options: str,
    paths: HostPaths,
    tools: ToolRunner,
    *,
    deadline: float = MOUNT_DEADLINE,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Target]:
    """Yield the usable target directory; mount and unmount a device around it."""
    nfs = parse_remote(value) if is_remote(value) else None
    if not is_device(value) and not isinstance(nfs, NfsTarget):
        if is_remote(value):  # ssh:// is not mounted (crashd.capture.remote_ssh)
            raise TargetError(value, "not a directory or a mountable target")
        yield _directory(value, paths)
        return
    mountpoint = paths.state_dir / "target"
    try:
        paths.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        mountpoint.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise TargetError(value, f"cannot create mount point {mountpoint}: {exc.strerror or exc}") from exc
    if isinstance(nfs, NfsTarget):  # nolock: no rpc.statd in the capture kernel
        options = ",".join(o for o in ("nolock", mount_options) if o)
        _mount(nfs.spec, options, mountpoint, tools, deadline, sleep, fstype="nfs")
    else:
        _mount(value, mount_options, mountpoint, tools, deadline, sleep)
    try:
        if isinstance(nfs, NfsTarget) and nfs.subdir:
            _make_under(mountpoint, nfs.subdir, value)
            yield Target(_directory(paths.unhost(mountpoint) + nfs.subdir, paths).path,
                         f"{nfs.url} (mounted at {paths.unhost(mountpoint)})", True)
            return
        yield Target(mountpoint, f"{value} (mounted at {paths.unhost(mountpoint)})", True)
    finally:
        try:
            tools.run(["umount", str(mountpoint)], timeout=MOUNT_TIMEOUT, check=True)
        except ToolError as exc:
            # Not fatal: the files are fsync'd; the reboot unmounts what is left.
            print(f"crashd save: warning: could not unmount {mountpoint}: {exc}", flush=True)


def _make_under(mountpoint: Path, subdir: str, value: str) -> None:
    """``nfs://HOST/EXPORT/a/b``: make ``a/b`` in the export (0700, one machine's
    directory on a shared server), never through a symlink planted there."""
    here = mountpoint
    for part in subdir.strip("/").split("/"):
        here = here / part
        if here.is_symlink():
            raise TargetError(value, f"{part} in the export is a symlink; refused")
        if not here.exists():
            try:
                here.mkdir(mode=0o700)
            except FileExistsError:
                pass  # made meanwhile (another machine on the same export)
            except OSError as exc:
                raise TargetError(value, f"cannot create {subdir} in the export: {exc.strerror or exc}") from exc


def _directory(value: str, paths: HostPaths) -> Target:
    if not value.startswith("/"):
        raise TargetError(value, "must be an absolute directory, UUID=, LABEL=, PARTUUID=, PARTLABEL= or /dev/…")
    path = paths.host(value)
    if not path.exists():
        if not path.parent.is_dir():
            raise TargetError(value, f"directory does not exist (nor its parent {paths.unhost(path.parent)})")
        try:
            path.mkdir(mode=0o700)
        except OSError as exc:
            raise TargetError(value, f"cannot create directory: {exc.strerror or exc}") from exc
    if not path.is_dir():
        raise TargetError(value, "is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise TargetError(value, "is not writable (read-only file system?)")
    return Target(path, value, False)


def _mount(
    spec: str, options: str, mountpoint: Path, tools: ToolRunner, deadline: float, sleep: Callable[[float], None],
    *, fstype: str | None = None,
) -> None:
    argv = ["mount"] + (["-t", fstype] if fstype else [])
    if options:
        argv += ["-o", options]
    argv += [spec, str(mountpoint)]
    give_up = time.monotonic() + deadline
    attempts = 0
    while True:
        attempts += 1
        try:
            result = tools.run(argv, timeout=MOUNT_TIMEOUT)
        except ToolError as exc:
            raise TargetError(spec, f"cannot mount: {exc}") from exc
        if result.ok:
            return
        if time.monotonic() >= give_up:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [f"exit {result.returncode}"]
            raise TargetError(spec, f"cannot mount after {attempts} attempts: {detail[0]}")
        sleep(1.0)
