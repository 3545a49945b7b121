"""The fleet view through systemd's own log shipping, for real (issue 13, item 7).

Two machines ingest a crash; crashd's own journal writer sends each record_created
entry over journald's native protocol to a real AF_UNIX socket; the datagrams, with
the fields journald itself adds, become journal export format (what
``journalctl -o export`` prints and ``systemd-journal-upload`` sends); Debian's
``systemd-journal-remote`` writes them into one journal file, as a collector does;
``crashd list --journal --file`` (journalctl underneath) lists both hosts' crashes
with the per-signature count. ``tests/data/journal/`` adds an export taken from a
real guest after a real crash (see tests/data/README.md).
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from crashd.core.journal import Journal
from crashd.ingest.journal_fields import RECORD_MESSAGE_ID
from crashd.ingest.run import Ingester
from tests.integration.cli import run_crashd
from tests.journal_export import JOURNAL_REMOTE, export_entry, journal_remote, native_fields
from tests.unit.ingest.scenario import PANIC, Machine

GUEST_EXPORT = Path(__file__).resolve().parents[1] / "data" / "journal" / "kdump-guest.export"
MACHINES = {"web-1": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "web-2": "0123456789abcdef0123456789abcdef"}

needs_journal_remote = pytest.mark.skipif(
    not os.access(JOURNAL_REMOTE, os.X_OK), reason=f"{JOURNAL_REMOTE} missing (apt install systemd-journal-remote)")


def machine_export(tmp_path: Path, host: str, machine_id: str, at_us: int) -> bytes:
    """A machine named ``host`` ingests a capture of a sysrq crash; its journal entry, exported."""
    m = Machine(tmp_path / host)
    m.paths.etc().mkdir(exist_ok=True)
    m.paths.etc("hostname").write_text(host + "\n")
    m.paths.etc("machine-id").write_text(machine_id + "\n")
    m.capture()
    sock_path = tmp_path / f"{host}.socket"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(5)
        Ingester(m.paths, m.config(), Journal(str(sock_path))).run()
        datagram = sock.recv(1 << 20)
    fields = native_fields(datagram)
    assert ("MESSAGE_ID", RECORD_MESSAGE_ID.encode()) in fields
    return export_entry(fields, realtime_us=at_us, host=host, machine_id=machine_id)


@needs_journal_remote
def test_two_hosts_crashes_from_a_journal_remote_file(tmp_path: Path) -> None:
    export = b"".join(machine_export(tmp_path, host, mid, 1_764_680_000_000_000 + i * 60_000_000)
                      for i, (host, mid) in enumerate(MACHINES.items()))
    out = tmp_path / "remote-collector.journal"
    journal_remote(export, out)
    res = run_crashd(["list", "--journal", "--file", str(out), "--json"])
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    crashes = data["crashes"]
    assert sorted(c["host"] for c in crashes) == ["web-1", "web-2"]
    assert {c["machine_id"] for c in crashes} == set(MACHINES.values())
    assert all(c["panic"] == PANIC and c["kind"] == "kdump" and c["kernel"] == "6.1.0-56-amd64" for c in crashes)
    (sig,) = data["signatures"]  # the same crash site on both machines
    assert sig["count"] == 2 and sig["host_count"] == 2 and sig["hosts"] == ["web-1", "web-2"]
    assert sig["signature"] == crashes[0]["signature"]
    text = run_crashd(["list", "--journal", "--file", str(out)])
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["TIME", "HOST", "RECORD"]
    assert any(line.startswith(sig["signature"]) and line.split()[1:3] == ["2", "2"] for line in lines), text.stdout
    assert "2 crash(es) on 2 host(s), 1 signature(s)" in text.stdout


@needs_journal_remote
def test_a_directory_of_collector_files(tmp_path: Path) -> None:
    """journal-remote's output directory (/var/log/journal/remote/): one file per sender, read with --directory;
    a damaged file in it is named, the others are read."""
    d = tmp_path / "remote"
    d.mkdir()
    for i, (host, mid) in enumerate(MACHINES.items()):
        journal_remote(machine_export(tmp_path, host, mid, 1_764_680_000_000_000 + i), d / f"remote-{host}.journal")
    (d / "remote-broken.journal").write_bytes(b"LPKSHHRH" + b"\0" * 100)
    res = run_crashd(["list", "--journal", "--directory", str(d), "--json"])
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert sorted(c["host"] for c in data["crashes"]) == ["web-1", "web-2"]
    assert data["signatures"][0]["count"] == 2


@needs_journal_remote
@pytest.mark.skipif(not GUEST_EXPORT.is_file(), reason="tests/data/journal/kdump-guest.export not present")
def test_a_real_guests_export_with_another_host(tmp_path: Path) -> None:
    """The entry a real Debian 12 guest journaled after a real sysrq-c crash (``journalctl -o export``,
    binary ``_SELINUX_CONTEXT`` included), uploaded twice, merged with a second machine's: both listed,
    the guest's crash once, each signature counted."""
    guest_export = GUEST_EXPORT.read_bytes()
    export = guest_export + guest_export + machine_export(tmp_path, "web-1", MACHINES["web-1"], 1_764_680_000_000_000)
    out = tmp_path / "collector.journal"
    journal_remote(export, out)
    res = run_crashd(["list", "--journal", "--file", str(out), "--json"])
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    hosts = {c["host"]: c for c in data["crashes"]}
    assert sorted(c["host"] for c in data["crashes"]) == ["crashd-vm", "web-1"], data
    guest = hosts["crashd-vm"]
    assert guest["record"] == "20261202T143043-kdump-148d662a" and guest["signature"] == "237bf7d6164ee02b"
    assert guest["panic"] == PANIC and guest["kind"] == "kdump" and guest["complete"] is True
    assert guest["kernel"] == "6.1.0-57-amd64" and guest["crash_time"] == "2026-12-02T14:30:43Z"
    assert guest["machine_id"] == "63c81b563e454daca3fbb46792c1cbbc"
    counts = {g["signature"]: (g["count"], g["hosts"]) for g in data["signatures"]}
    assert counts["237bf7d6164ee02b"] == (1, ["crashd-vm"])
    assert counts[hosts["web-1"]["signature"]] == (1, ["web-1"])
