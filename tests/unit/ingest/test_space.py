"""A full store stops ingest with a clear error and leaves pstore and the spool alone;
a spool on another file system is copied, fsync'd, then removed.

Uses small tmpfs mounts (needs root; skipped otherwise)."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crashd.ingest.store import StoreFullError
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


def test_full_store_is_refused_before_anything_moves(tmp_path: Path, tmpfs: Callable[[Path, str], Path]) -> None:
    m = Machine(tmp_path)
    tmpfs(m.store, "1m")
    d = m.capture(messages=sysrq_messages())
    with open(d / "vmcore", "ab") as fh:  # make the dump bigger than the store
        fh.write(os.urandom(3 << 20))
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    with pytest.raises(StoreFullError, match="no space left") as err:
        m.ingest()
    assert err.value.needed is not None and err.value.free is not None and err.value.needed > err.value.free
    assert (m.paths.pstore / "dmesg-ramoops-0").exists()
    assert (d / "vmcore").stat().st_size > 3 << 20
    assert m.records() == []


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

    with pytest.raises(StoreFullError):
        m.ingest(checkpoint=fill)
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
