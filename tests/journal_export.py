"""Journal export format and systemd-journal-remote, for the fleet tests (host and VM).

Export format (systemd's JOURNAL_EXPORT_FORMATS): one entry is ``KEY=value`` lines, a
value holding a newline (or binary) as ``KEY\n<le64 size><bytes>\n``, entries
separated by an empty line — what ``journalctl -o export`` prints and
``systemd-journal-upload`` sends to ``systemd-journal-remote``.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

__all__ = ["JOURNAL_REMOTE", "export_entry", "journal_remote", "native_fields"]

JOURNAL_REMOTE = Path("/lib/systemd/systemd-journal-remote")


def native_fields(datagram: bytes) -> list[tuple[str, bytes]]:
    """journald's native protocol (what crashd.core.journal sends), parsed as journald does."""
    out: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(datagram):
        end = datagram.index(b"\n", pos)
        line = datagram[pos:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            out.append((key.decode(), value))
            pos = end + 1
        else:  # KEY\n<le64 size><data>\n
            (size,) = struct.unpack("<Q", datagram[end + 1:end + 9])
            out.append((line.decode(), datagram[end + 9:end + 9 + size]))
            pos = end + 9 + size + 1
    return out


def export_entry(fields: list[tuple[str, bytes]], *, realtime_us: int, host: str, machine_id: str) -> bytes:
    """One entry in journal export format, with the fields journald adds on receipt."""
    trusted = [("__REALTIME_TIMESTAMP", str(realtime_us).encode()), ("__MONOTONIC_TIMESTAMP", b"5000000"),
               ("_BOOT_ID", b"1111aaaa8c1e4a539d558c2ba3b7e1a2"), ("_TRANSPORT", b"journal"),
               ("_HOSTNAME", host.encode()), ("_MACHINE_ID", machine_id.encode())]
    out = bytearray()
    for key, value in [*trusted, *fields]:
        if b"\n" in value:
            out += key.encode() + b"\n" + struct.pack("<Q", len(value)) + value + b"\n"
        else:
            out += key.encode() + b"=" + value + b"\n"
    return bytes(out) + b"\n"


def journal_remote(export: bytes, out: Path) -> None:
    """What a collector does with uploaded entries: systemd-journal-remote writes a journal file."""
    res = subprocess.run([str(JOURNAL_REMOTE), f"--output={out}", "-"], input=export, capture_output=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr.decode(errors="replace")
    assert out.is_file()


