"""The shared file primitives: durable writes and guarded reads."""

import os
import threading
from pathlib import Path

import pytest

from crashd.core.errors import UnsafePathError
from crashd.core.fsutil import read_regular, read_value, write_durable


def test_write_durable_sets_the_mode_whatever_the_umask_and_leaves_no_temporary(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        write_durable(tmp_path, "state.json", b"{}\n")
    finally:
        os.umask(old)
    assert (tmp_path / "state.json").read_bytes() == b"{}\n"
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_concurrent_writers_never_share_a_temporary_and_one_wins_whole(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def writer(tag: bytes) -> None:
        try:
            for _ in range(200):
                write_durable(tmp_path, "state.json", tag * 4096)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in (b"a", b"b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = (tmp_path / "state.json").read_bytes()
    assert data in (b"a" * 4096, b"b" * 4096)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_write_durable_does_not_follow_a_planted_symlink_at_the_final_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "state.json").symlink_to(victim)
    write_durable(tmp_path, "state.json", b"new")
    assert victim.read_bytes() == b"keep"
    assert not (tmp_path / "state.json").is_symlink()


def test_read_regular_refuses_symlinks_fifos_and_oversized_files(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * 10)
    assert read_regular(tmp_path / "f", 10) == b"x" * 10
    with pytest.raises(UnsafePathError, match="more than the 9 allowed"):
        read_regular(tmp_path / "f", 9)
    (tmp_path / "link").symlink_to(tmp_path / "f")
    with pytest.raises(UnsafePathError, match="symlink"):
        read_regular(tmp_path / "link", 100)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafePathError, match="not a regular file"):
        read_regular(tmp_path / "fifo", 100)  # returns at once: a FIFO never blocks the reader
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "absent", 100)


def test_read_value_is_none_for_an_absent_kernel_feature(tmp_path: Path) -> None:
    (tmp_path / "v").write_text("42\n")
    assert read_value(tmp_path / "v") == "42"
    assert read_value(tmp_path / "absent") is None
