"""A record that does not fit is refused alone, with a clear error, and its source left where it is;
a spool on another file system is copied, fsync'd, then removed.

Uses small tmpfs mounts (needs root; skipped otherwise)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[Path, str], Path]]:
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if res.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {res.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", str(where)], check=False)


def test_a_dump_that_does_not_fit_is_refused_alone(tmp_path: Path, tmpfs: Callable[[Path, str], Path]) -> None:
    """Space is checked per record: the dump stays in the spool, the pstore record is stored."""
    m = Machine(tmp_path)
    tmpfs(m.store, "2m")
    d = m.capture(messages=sysrq_messages())
    with open(d / "vmcore", "ab") as fh:  # make the dump bigger than the store
        fh.write(os.urandom(3 << 20))
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    result = m.ingest()
    assert [r.name.split("-")[1] for r in m.records()] == ["pstore"]
    (problem,) = result.problems
    assert str(d) in problem and "no space left" in problem
    assert not (m.paths.pstore / "dmesg-ramoops-0").exists()
    assert (d / "vmcore").stat().st_size > 3 << 20
    assert [e[0] for e in m.journal.events] == ["record_created", "ingest_failed"]


def test_nothing_is_pruned_for_a_dump_that_would_not_fit_anyway(
    tmp_path: Path, tmpfs: Callable[[Path, str], Path]
) -> None:
    m = Machine(tmp_path)
    tmpfs(m.store, "2m")
    for n in range(3):  # three old records of one signature: the middle one may go
        m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.0 + n)), mtime=1_700_000_000 + n * 86400)
        m.ingest()
    before = m.records()
    assert len(before) == 3
    m.paths.host("/etc").mkdir(exist_ok=True)
    m.paths.host("/etc/crashd.conf").write_text("[retention]\nmax_records = 1\n")
    d = m.capture(messages=sysrq_messages())
    with open(d / "vmcore", "ab") as fh:
        fh.write(os.urandom(3 << 20))
    result = m.ingest()
    assert result.removed == [] and m.records() == before
    assert "no space left" in result.problems[0]
    assert (d / "vmcore").exists()


def test_disk_filling_up_mid_ingest_leaves_pstore_and_resumes(
    tmp_path: Path, tmpfs: Callable[[Path, str], Path]
) -> None:
    m = Machine(tmp_path)
    tmpfs(m.store, "4m")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    filler = m.store / ".filler"

    def fill(step: str) -> None:
        if step.startswith("wrote pstore/") and not filler.exists():
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                for size in (65536, 4096, 1):  # down to the last byte
                    try:
                        while True:
                            os.write(fd, b"\0" * size)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC
            finally:
                os.close(fd)

    result = m.ingest(checkpoint=fill)
    assert "no space left" in result.problems[0]
    assert (m.paths.pstore / "dmesg-ramoops-0").exists()
    assert m.records() == []
    filler.unlink()
    assert len(m.ingest().created) == 1
    assert not (m.paths.pstore / "dmesg-ramoops-0").exists()


def test_dump_on_another_file_system_is_copied_then_removed(tmp_path: Path, tmpfs: Callable[[Path, str], Path]) -> None:
    m = Machine(tmp_path)
    tmpfs(m.spool, "16m")
    d = m.capture()
    original = (d / "vmcore").read_bytes()
    m.ingest()
    (rec,) = m.records()
    assert (rec / "vmcore").read_bytes() == original
    assert not d.exists()


def test_read_only_spool_still_publishes_the_record(tmp_path: Path, tmpfs: Callable[[Path, str], Path]) -> None:
    m = Machine(tmp_path)
    tmpfs(m.spool, "16m")
    d = m.capture()
    original = (d / "vmcore").read_bytes()
    res = subprocess.run(["mount", "-o", "remount,ro", str(m.spool)], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        pytest.skip(f"cannot remount read-only: {res.stderr.strip()}")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    result = m.ingest()
    kinds = sorted(r.name.split("-")[1] for r in m.records())
    assert kinds == ["kdump", "pstore"]
    (rec,) = [r for r in m.records() if "-kdump-" in r.name]
    assert (rec / "vmcore").read_bytes() == original
    assert (d / "vmcore").exists()  # the copy stays behind, said so
    assert any("could not be removed" in p for p in result.problems)
    assert m.ingest().created == []
