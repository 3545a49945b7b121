"""What is armed, since when and why: ``/run/crashd/state.json``.

Written by the daemon and by ``crashd arm``/``disarm``; read by ``crashd status``
and by the daemon itself (so a restart adopts a load that still matches). It lives
under ``/run`` because it describes this boot only. Writes are atomic and durable:
``state.json.incomplete`` → fsync → rename → fsync directory.

Also here: the daemon's pid file (so the CLI can SIGHUP it) and the "hold" file
that ``crashd disarm`` leaves so a running daemon does not re-arm behind the
administrator's back.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crashd.core.errors import UnsafePathError
from crashd.core.fsutil import write_durable
from crashd.core.paths import HostPaths

__all__ = [
    "ArmState",
    "HOLD_FILE",
    "PID_FILE",
    "SCHEMA",
    "STATE_FILE",
    "clear_hold",
    "daemon_pid",
    "ensure_state_dir",
    "held",
    "hold_path",
    "now_iso",
    "read_state",
    "remove_pid",
    "set_hold",
    "signal_daemon",
    "state_path",
    "write_pid",
    "write_state",
]

SCHEMA = 1
STATE_FILE = "state.json"
PID_FILE = "daemon.pid"
HOLD_FILE = "disarmed"


@dataclass(frozen=True)
class ArmState:
    """The last arm/disarm outcome. Times are ISO 8601 UTC."""

    armed: bool
    kernel: str | None = None
    initrd: str | None = None
    dtb: str | None = None
    cmdline: str | None = None
    file_load: bool = False
    since: str | None = None  # when this load happened (or the disarm)
    reason: str | None = None  # why: "start", "initrd changed", "crashd arm", …
    last_error: str | None = None  # the latest arm failure; None after a success
    release: str | None = None
    reserved: int | None = None  # bytes of crashkernel reservation
    argv: list[str] = field(default_factory=list)  # the exact kexec command line
    fingerprint: list[list[Any]] = field(default_factory=list)  # file stamps at load time
    sysctl_originals: dict[str, str] = field(default_factory=dict)  # to restore after a daemon crash
    updated: str | None = None
    pid: int | None = None  # who wrote it


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def state_path(paths: HostPaths) -> Path:
    return paths.state_dir / STATE_FILE


def ensure_state_dir(paths: HostPaths) -> Path:
    """``/run/crashd`` (0755: status is readable by users; nothing secret here)."""
    d = paths.state_dir
    if d.is_symlink():
        raise UnsafePathError(d, "is a symlink")
    d.mkdir(mode=0o755, parents=True, exist_ok=True)
    return d


def read_state(paths: HostPaths) -> ArmState | None:
    """The recorded state, or None when absent or unreadable (never raises)."""
    try:
        fd = os.open(state_path(paths), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return None
    known = {f.name for f in fields(ArmState)}
    try:
        return ArmState(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None


def write_state(paths: HostPaths, state: ArmState) -> None:
    """Replace the state file atomically."""
    d = ensure_state_dir(paths)
    data = asdict(state)
    data["schema"] = SCHEMA
    data["updated"] = now_iso()
    data["pid"] = os.getpid()
    write_durable(d, STATE_FILE, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), mode=0o644)


# --- daemon pid and the disarm hold ---------------------------------------

def write_pid(paths: HostPaths) -> None:
    write_durable(ensure_state_dir(paths), PID_FILE, f"{os.getpid()}\n".encode(), mode=0o644)


def remove_pid(paths: HostPaths) -> None:
    if paths.state_dir.is_symlink():  # never unlink through a planted link
        raise UnsafePathError(paths.state_dir, "is a symlink")
    try:
        (paths.state_dir / PID_FILE).unlink()
    except FileNotFoundError:
        pass


def daemon_pid(paths: HostPaths) -> int | None:
    """The running daemon's pid, or None.

    The pid file may be stale after a crash and the number reused, so the process
    must also be a crashd daemon (its real ``/proc/<pid>/cmdline``, not the fake
    root's: pids are this machine's) before we would signal it — and a daemon of
    the same root: a ``--root`` run (tests, image inspection) never signals the
    host's daemon, nor the host's ``crashd disarm`` a test's.
    """
    try:
        pid = int((paths.state_dir / PID_FILE).read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if b"daemon" not in argv or not any(b"crashd" in a for a in argv):
        return None
    if _process_root(pid, argv) != os.path.realpath(paths.root):
        return None
    return pid


def _process_root(pid: int, argv: list[bytes]) -> str | None:
    """The root a crashd process runs with: ``--root DIR``/``--root=DIR``, else its
    ``$CRASHD_ROOT``, else ``/``; None when it cannot be read."""
    root: bytes | None = None
    for i, arg in enumerate(argv):
        if arg == b"--root" and i + 1 < len(argv):
            root = argv[i + 1]
        elif arg.startswith(b"--root="):
            root = arg[len(b"--root="):]
    if root is None:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return None
        root = next((e[len(b"CRASHD_ROOT="):] for e in environ if e.startswith(b"CRASHD_ROOT=")), b"") or b"/"
    text = os.fsdecode(root)
    if not os.path.isabs(text):
        try:
            text = os.path.join(os.readlink(f"/proc/{pid}/cwd"), text)  # relative to ITS cwd
        except OSError:
            return None
    return os.path.realpath(text)


def signal_daemon(paths: HostPaths) -> int | None:
    """SIGHUP the running daemon (re-read config and state); its pid or None."""
    pid = daemon_pid(paths)
    if pid is None or pid == os.getpid():
        return None
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError:
        return None
    return pid


def hold_path(paths: HostPaths) -> Path:
    return paths.state_dir / HOLD_FILE


def set_hold(paths: HostPaths, reason: str) -> None:
    """Keep the daemon from re-arming until ``crashd arm`` (or a reboot)."""
    write_durable(ensure_state_dir(paths), HOLD_FILE, (reason + "\n").encode(), mode=0o644)


def clear_hold(paths: HostPaths) -> bool:
    try:
        hold_path(paths).unlink()
    except FileNotFoundError:
        return False
    return True


def held(paths: HostPaths) -> bool:
    return hold_path(paths).exists()
