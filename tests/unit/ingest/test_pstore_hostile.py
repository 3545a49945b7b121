"""Hostile and absurd pstore input is bounded (issue 10 F2): a decompression bomb, names that are
not UTF-8 or 255 bytes long, and /sys/fs/pstore or /var/lib as a symlink out of the root."""

from __future__ import annotations

import os
import resource
import zlib
from pathlib import Path

from crashd.ingest.pstore import MAX_INFLATED, decompress
from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages


def bomb(size: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b"\0" * (1 << 20)
    return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()


def test_decompression_is_capped() -> None:
    data = bomb(1 << 30)  # ~1 MiB that inflates to 1 GiB
    assert len(data) < 2 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out, label = decompress(data)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
    assert out is None and label == "oversized"
    assert grown < 4 * MAX_INFLATED // 1024


def test_bomb_among_records_is_kept_raw_and_the_rest_ingested(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    m.pstore("dmesg-efi_pstore-172000000001001.enc.z", bomb(256 << 20))
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    m.ingest()
    stored = [p.name for r in m.records() for p in (r / "pstore").iterdir()]
    assert sorted(stored) == ["dmesg-efi_pstore-172000000001001.enc.z", "dmesg-ramoops-0"]


def test_non_utf8_and_255_byte_names(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    odd = os.fsdecode(b"console-ramoops-\xff\xfe")
    long = "console-ramoops-" + "9" * (255 - len("console-ramoops-"))
    assert len(long.encode()) == 255
    m.pstore(odd, b"odd console\n")
    m.pstore(long, b"long console\n")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(9.0)), mtime=1_000_000_000)
    result = m.ingest()
    assert result.problems == []
    (rec,) = m.records()
    assert sorted(p.read_bytes() for p in (rec / "pstore").iterdir()) == sorted(
        [b"long console\n", b"odd console\n", pstore_text(sysrq_messages(9.0))]
    )
    assert list(m.paths.pstore.iterdir()) == []
    assert m.ingest().created == []


def test_pstore_symlinked_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "dmesg-ramoops-0").write_bytes(pstore_text(sysrq_messages(9.0)))
    m = Machine(tmp_path / "root")
    os.rmdir(m.paths.pstore)
    m.paths.pstore.symlink_to(outside)
    result = m.ingest()
    assert m.records() == []
    assert any(str(m.paths.pstore) in p and "outside" in p for p in result.problems)
    assert (outside / "dmesg-ramoops-0").exists()


def test_var_lib_symlinked_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "systemd/pstore/1").mkdir(parents=True)
    (outside / "systemd/pstore/1/dmesg-ramoops-0").write_bytes(pstore_text(sysrq_messages(9.0)))
    m = Machine(tmp_path / "root")
    (tmp_path / "root/var/lib").rmdir() if (tmp_path / "root/var/lib").exists() else None
    (tmp_path / "root/var/lib").symlink_to(outside)
    import pytest

    from crashd.core.errors import UnsafePathError

    with pytest.raises(UnsafePathError, match="outside"):
        m.ingest()
    assert not (outside / "crash").exists()
