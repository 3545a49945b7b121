"""Record lookup, removal and retention."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crashd.core.errors import NotFoundError, UnsafePathError
from crashd.core.paths import HostPaths
from crashd.core.settings import RetentionConfig
from crashd.ingest.retention import keepers, prune
from crashd.ingest.store import Staging, list_records, read_metadata, record_size, resolve_record, sweep_removals
from tests.unit.ingest.scenario import RecordingJournal

DAY = 86400


def make(paths: HostPaths, name: str, signature: str | None, size: int = 100, age_days: float = 0) -> Path:
    store = paths.crash_store
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    s = Staging(store, name)
    s.write_bytes("vmcore", b"x" * size)
    s.write_json("metadata.json", {"schema": 1, "signature": signature, "kind": "kdump"})
    rec = s.publish(name)
    t = 1_800_000_000 - age_days * DAY
    os.utime(rec / "metadata.json", (t, t))
    return rec


def retention(**kw: int) -> RetentionConfig:
    values = {"max_records": 0, "max_size": 0, "max_age": 0, "min_free": 0, **kw}
    return RetentionConfig(**values)


def names(n: int) -> list[str]:
    return [f"202601{d:02d}T000000-kdump-{d:08x}" for d in range(1, n + 1)]


def test_resolve_by_name_prefix_and_errors(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    a, b, c = names(3)
    for n in (a, b, c):
        make(paths, n, "s")
    assert resolve_record(paths, a) == paths.crash_store / a
    assert resolve_record(paths, "20260102").name == b
    with pytest.raises(NotFoundError, match="ambiguous"):
        resolve_record(paths, "2026")
    with pytest.raises(NotFoundError, match="no crash record"):
        resolve_record(paths, "1999")
    assert [r.name for r in list_records(paths)] == [a, b, c]
    assert read_metadata(paths.crash_store / a)["signature"] == "s"
    assert record_size(paths.crash_store / a) > 100


def test_symlinked_record_is_refused(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    (a,) = names(1)
    real = make(paths, a, "s")
    link = paths.crash_store / "20260109T000000-kdump-00000009"
    link.symlink_to(real)
    with pytest.raises(UnsafePathError, match="00000009"):
        resolve_record(paths, "20260109")


def test_interrupted_removal_is_finished(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    (a,) = names(1)
    rec = make(paths, a, "s")
    hidden = rec.with_name(f".{a}.removing")
    os.rename(rec, hidden)
    sweep_removals(paths.crash_store)
    assert not hidden.exists() and list_records(paths) == []


def test_max_records_oldest_first_keeping_first_and_latest_of_each_signature(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    n = names(6)
    sigs = ["A", "A", "A", "B", "A", "B"]
    for name, sig in zip(n, sigs, strict=True):
        make(paths, name, sig)
    journal = RecordingJournal()
    removed = prune(paths, retention(max_records=3), journal)
    # A: first n[0], latest n[4] kept; B: n[3], n[5] kept → only the middle A's can go
    assert [r.name for r in removed] == [n[1], n[2]]
    assert [r.name for r in list_records(paths)] == [n[0], n[3], n[4], n[5]]
    assert [e[0] for e in journal.events] == ["record_removed", "record_removed"]
    assert journal.events[0][2]["record"] == n[1]


def test_incoming_record_counts_and_is_protected(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    n = names(4)
    for name in n:
        make(paths, name, None)
    removed = prune(paths, retention(max_records=3), RecordingJournal(), incoming_records=1, protect={n[0]})
    assert [r.name for r in removed] == [n[1], n[2]]


def test_max_size_and_max_age(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    n = names(4)
    for i, name in enumerate(n):
        make(paths, name, None, size=10_000, age_days=40 - i * 10)
    removed = prune(paths, retention(max_age=25 * DAY), RecordingJournal(), now=1_800_000_000)
    assert [r.reason for r in removed] == ["older than max_age", "older than max_age"]
    removed = prune(paths, retention(max_size=15_000), RecordingJournal())
    assert [r.name for r in removed] == [n[2]] and [r.name for r in list_records(paths)] == [n[3]]


def test_min_free_removes_until_space(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    n = names(2)
    for name in n:
        make(paths, name, None)
    st = os.statvfs(paths.crash_store)
    free = st.f_bavail * st.f_frsize
    removed = prune(paths, retention(min_free=free * 1000), RecordingJournal())
    assert [r.reason for r in removed] == ["less than min_free"] * 2
    assert prune(paths, retention(min_free=1), RecordingJournal()) == []


def test_keepers_ignore_records_without_signature(tmp_path: Path) -> None:
    paths = HostPaths(tmp_path)
    n = names(3)
    make(paths, n[0], None)
    make(paths, n[1], "X")
    make(paths, n[2], "X")
    assert keepers(list_records(paths)) == {n[1], n[2]}
    assert json.loads((paths.crash_store / n[1] / "metadata.json").read_text())["signature"] == "X"


def test_sha256_of_sparse_and_plain_files(tmp_path: Path) -> None:
    import hashlib

    from crashd.ingest.store import sha256_file

    sparse = tmp_path / "sparse"
    with open(sparse, "wb") as fh:
        fh.seek(9 << 20)
        fh.write(b"data in the middle")
        fh.seek(20 << 20)
        fh.write(b"tail")
        fh.truncate(25 << 20)  # ends in a hole
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(5 << 20) + b"x")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for p in (sparse, plain, empty):
        data = p.read_bytes()
        assert sha256_file(p) == (len(data), hashlib.sha256(data).hexdigest())
