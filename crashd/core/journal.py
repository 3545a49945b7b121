"""Structured journal events: one fixed MESSAGE_ID per event type.

Events go to journald over its native protocol (a datagram of ``KEY=value``
lines to ``/run/systemd/journal/socket``) so they carry ``MESSAGE_ID`` and
``CRASHD_*`` fields that ``journalctl MESSAGE_ID=…`` can select. Without a
journal (a terminal, a test) the message goes to the ``crashd`` logger instead.
The catalog (``units/crashd.catalog``) explains each id.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from crashd.core.paths import HostPaths

__all__ = ["JOURNAL_SOCKET", "Journal", "MESSAGE_IDS", "encode_entry", "log"]

log = logging.getLogger(__name__)

MESSAGE_IDS = {
    "armed": "1de598f008a14b4e863f8259561afd15",
    "rearmed": "46d60ee4ea224f058394501955994c31",
    "arm_failed": "f7a040a309b84fc69eb74dd8a3f8273d",
    "disarmed": "85aa25802da544a5beb41bb9f672d348",
    "arm_degraded": "341eb2dc97624671a8e4ba6e4907097a",
    "selftest_passed": "875d27ed703e4ff8a00ae1b4862c2a12",
    "selftest_failed": "742e7f45b6b94a3b97cc6b2361971169",
    "saved": "2f1773fb579142f48857ad7765297055",
    "save_failed": "02b049619b6f4c37bea733db84b65935",
    "record_created": "20d9dc82fb064078a23fd9e674048009",
    "record_removed": "e20a3c1e2a2d4db9b231862c97980b25",
    "ingest_failed": "b96bdd16aa734d53a47b40b5694c0cdc",
    "analysis_failed": "6f0c3b5e9d1a4e7f8b2c4d6e8fa1b3c5",
}

JOURNAL_SOCKET = "/run/systemd/journal/socket"


@dataclass
class Journal:
    """Sends structured entries; ``socket_path=None`` means log through Python."""

    socket_path: str | None = None
    identifier: str = "crashd"

    @classmethod
    def detect(cls, paths: HostPaths | None = None) -> Journal:
        """The journal to send to.

        With ``paths`` (every CLI verb): journald's socket under that root whenever it
        exists — a hand-run ``crashd arm``, ``disarm`` or ``remove`` changes the
        machine and belongs in its journal, terminal or not; under ``--root X`` that
        is ``X/run/systemd/journal/socket``, never the host's. Without ``paths``: the
        host's socket, only when we run under systemd (``JOURNAL_STREAM`` or
        ``INVOCATION_ID``)."""
        if paths is not None:
            sock = paths.run("systemd", "journal", "socket")
            return cls(str(sock)) if sock.is_socket() else cls(None)
        if (os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID")) and Path(
            JOURNAL_SOCKET
        ).exists():
            return cls(JOURNAL_SOCKET)
        return cls(None)

    def event(self, event: str, message: str, priority: int = 6, **fields: object) -> None:
        """Record one event; ``fields`` become ``CRASHD_<NAME>=`` (None is skipped)."""
        entry: dict[str, str] = {
            "MESSAGE": message,
            "MESSAGE_ID": MESSAGE_IDS[event],
            "PRIORITY": str(priority),
            "SYSLOG_IDENTIFIER": self.identifier,
        }
        for key, value in fields.items():
            if value is not None:
                entry[f"CRASHD_{key.upper()}"] = str(value)
        if self.socket_path is None or not self._send(entry):
            level = logging.ERROR if priority <= 3 else logging.WARNING if priority == 4 else logging.INFO
            log.log(level, "%s", message)

    def _send(self, entry: dict[str, str]) -> bool:
        data = encode_entry(entry)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(data, self.socket_path)  # type: ignore[arg-type]
        except OSError as exc:
            print(f"crashd: journal unavailable ({exc}); {entry['MESSAGE']}", file=sys.stderr)
            return False
        return True


def encode_entry(entry: dict[str, str]) -> bytes:
    """journald's native wire format; multi-line values use the length form."""
    out = bytearray()
    for key, value in entry.items():
        raw = value.encode("utf-8", "replace")
        if b"\n" in raw:
            out += key.encode() + b"\n" + struct.pack("<Q", len(raw)) + raw + b"\n"
        else:
            out += key.encode() + b"=" + raw + b"\n"
    return bytes(out)
