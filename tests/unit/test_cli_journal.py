"""Hand-run verbs that change the machine are journaled whenever the journal socket
exists — under ``--root X`` that is X's socket, never the host's (issue 10 E, F)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from crashd.cli import main
from crashd.core.journal import MESSAGE_IDS
from tests.fakeroot import build_root, unarmed_guest


@pytest.fixture(autouse=True)
def _fresh_logging() -> None:
    logging.getLogger("crashd").handlers[:] = []


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[socket.socket]:
    path = tmp_path / "run/systemd/journal/socket"
    path.parent.mkdir(parents=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield sock
    sock.close()


def entry(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(65536)
    out: dict[str, str] = {}
    for line in data.split(b"\n"):
        key, sep, value = line.partition(b"=")
        if sep:
            out[key.decode()] = value.decode()
    return out


def test_disarm_by_hand_is_journaled_under_the_root(tmp_path: Path, journal: socket.socket,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    build_root(tmp_path, unarmed_guest())
    assert main(["disarm", "--root", str(tmp_path)]) == 0
    got = entry(journal)
    assert got["MESSAGE_ID"] == MESSAGE_IDS["disarmed"]
    assert got["CRASHD_REASON"] == "crashd disarm"


def test_remove_by_hand_is_journaled(tmp_path: Path, journal: socket.socket) -> None:
    from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages

    m = Machine(tmp_path)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.0)), mtime=1_700_000_000)
    m.ingest()
    name = m.records()[0].name
    assert main(["remove", name, "--root", str(tmp_path)]) == 0
    got = entry(journal)
    assert got["MESSAGE_ID"] == MESSAGE_IDS["record_removed"]
    assert got["CRASHD_RECORD"] == name


def test_no_socket_under_the_root_means_no_journal(tmp_path: Path) -> None:
    from crashd.core.journal import Journal
    from crashd.core.paths import HostPaths

    assert Journal.detect(HostPaths(tmp_path)).socket_path is None
