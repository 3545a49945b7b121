"""sd_notify: tell systemd we are ready, what we are doing, and that we are alive.

A datagram of ``KEY=value`` lines to the ``AF_UNIX`` socket named by
``$NOTIFY_SOCKET``. A name starting with ``@`` is in the abstract namespace: the
``@`` becomes a NUL byte (as sd_notify(3) does). Written directly rather than
through pystemd so the wire format is visible and tests can receive on a real
socket; without ``$NOTIFY_SOCKET`` every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["Notifier", "SEND_TIMEOUT", "log", "socket_address", "watchdog_interval"]

log = logging.getLogger(__name__)

SEND_TIMEOUT = 2.0


def socket_address(name: str) -> str | bytes:
    """``@foo`` → ``b"\\0foo"`` (abstract); a path stays a path."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


class Notifier:
    """Sends notifications; remembers the last STATUS= to avoid repeats."""

    def __init__(self, address: str | bytes | None):
        self.address = address
        self.last_status: str | None = None
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        name = env.get("NOTIFY_SOCKET")
        return cls(socket_address(name) if name else None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``lines`` (``READY=1``, ``STATUS=…``) in one datagram."""
        if self.address is None:
            return False
        for line in lines:
            if line.startswith("STATUS="):
                self.last_status = line[len("STATUS="):]
        payload = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # A datagram send blocks while the receiver's queue is full
                # (net.unix.max_dgram_qlen). Wait a little, then drop the message:
                # a stuck receiver must never stall the daemon.
                self._sock.settimeout(SEND_TIMEOUT)
            self._sock.sendto(payload, self.address)
        except OSError as exc:
            log.debug("sd_notify to %r failed: %s", self.address, exc)
            return False
        return True

    def status(self, text: str, *extra: str) -> bool:
        """Send ``STATUS=text`` (plus ``extra`` lines) unless it is unchanged."""
        if text == self.last_status and not extra:
            return True
        self.last_status = text
        return self.send(*extra, f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WatchdogSec=``), or None.

    ``$WATCHDOG_PID``, when set, must be ours (sd_watchdog_enabled(3)).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    wpid = env.get("WATCHDOG_PID")
    if wpid and wpid != str(pid if pid is not None else os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None
