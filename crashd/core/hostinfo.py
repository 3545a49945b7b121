"""Which machine this is: the hostname and machine id that travel with a crash.

A capture written on a dump server, or a journal entry shipped to a collector, is
read far from the machine that crashed; these two values say which one it was.
The capture kernel boots the normal root file system, so it reads the same
``/etc/hostname`` and ``/etc/machine-id`` as the crashed system.

- hostname: ``/etc/hostname`` (the static name, what hostnamectl sets), else the
  kernel's (``/proc/sys/kernel/hostname``: a DHCP- or cloud-set transient name);
  ``localhost`` and ``(none)`` say nothing and give None.
- machine id: ``/etc/machine-id``, 32 hex digits (machine-id(5)); ``uninitialized``
  (first boot) gives None.

Both are also *read back* from untrusted places (capture.json on a server, a
journal), so :func:`clean_hostname` / :func:`clean_machine_id` accept only the
shapes these files may hold: a value that passes is safe as a directory name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crashd.core.errors import CrashdError
from crashd.core.fsutil import read_regular
from crashd.core.paths import HostPaths

__all__ = ["HostIdentity", "clean_hostname", "clean_machine_id", "read_identity"]

_LIMIT = 4096
# hostname(7) allows letters, digits, '-' and '.'; '_' is seen in the wild (and is harmless).
_HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")
_MACHINE_ID = re.compile(r"^[0-9a-f]{32}$")
_MEANINGLESS = frozenset({"localhost", "localhost.localdomain", "(none)"})


@dataclass(frozen=True)
class HostIdentity:
    hostname: str | None
    machine_id: str | None


def clean_hostname(value: object) -> str | None:
    """``value`` when it is a plausible hostname (≤ 253 characters, no path, no
    control characters), else None."""
    if not isinstance(value, str) or not _HOSTNAME.match(value) or ".." in value:
        return None
    return None if value.lower() in _MEANINGLESS else value


def clean_machine_id(value: object) -> str | None:
    """A machine id as machine-id(5) writes it (32 hex digits, lower-cased), else None."""
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if _MACHINE_ID.match(value) else None


def _first_line(paths: HostPaths, path_parts: tuple[str, ...], where: str) -> str | None:
    path = paths.etc(*path_parts) if where == "etc" else paths.proc(*path_parts)
    try:
        text = read_regular(path, _LIMIT).decode("utf-8", "replace")
    except (OSError, CrashdError):  # absent, a symlink, not a regular file
        return None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):  # /etc/hostname may carry comments (hostname(5))
            return line
    return None


def read_identity(paths: HostPaths) -> HostIdentity:
    """This machine's hostname and machine id; None for what is not known."""
    hostname = clean_hostname(_first_line(paths, ("hostname",), "etc"))
    if hostname is None:
        hostname = clean_hostname(_first_line(paths, ("sys", "kernel", "hostname"), "proc"))
    return HostIdentity(hostname, clean_machine_id(_first_line(paths, ("machine-id",), "etc")))
