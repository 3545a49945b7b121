"""pstore names, headers, decompression and grouping (formats.md §6, Vector J §7.9)."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import pytest

from crashd.core.errors import UnsafePathError
from crashd.ingest.pstore import decompress, group, parse_dmesg, parse_name, read_file, scan


@pytest.mark.parametrize(
    ("name", "type_", "backend", "ident", "compressed"),
    [
        ("dmesg-ramoops-0", "dmesg", "ramoops", 0, False),
        ("dmesg-efi-172000000001001", "dmesg", "efi", 172000000001001, False),
        ("dmesg-efi_pstore-172000000002001.enc.z", "dmesg", "efi_pstore", 172000000002001, True),
        ("dmesg-erst-6914355470345388033", "dmesg", "erst", 6914355470345388033, False),
        ("console-ramoops-0", "console", "ramoops", 0, False),
        ("pmsg-ramoops-0", "pmsg", "ramoops", 0, False),
        ("ftrace-ramoops-3", "ftrace", "ramoops", 3, False),
        ("powerpc-ofw-nvram-1", "powerpc-ofw", "nvram", 1, False),
        ("mce-erst-12", "mce", "erst", 12, False),
    ],
)
def test_parse_name(name: str, type_: str, backend: str, ident: int, compressed: bool) -> None:
    p = parse_name(name)
    assert p is not None
    assert (p.type, p.backend, p.id, p.compressed) == (type_, backend, ident, compressed)


def test_foreign_names_and_efi_time() -> None:
    assert parse_name("README") is None
    assert parse_name("dmesg") is None
    efi = parse_name("dmesg-efi-172000000003001")
    assert efi is not None and efi.efi_time == 1720000000
    ram = parse_name("dmesg-ramoops-1")
    assert ram is not None and ram.efi_time is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Panic#12 Part3\nx\n", ("Panic", 12, 3)),
        ("Emergency#1 Part1\nx\n", ("Emergency", 1, 1)),
        ("Shutdown#1 Part1\nx\n", ("Shutdown", 1, 1)),
        ("garbage here\nx\n", (None, None, None)),
    ],
)
def test_header(text: str, expected: tuple[object, ...]) -> None:
    assert parse_dmesg(text)[:3] == expected


@pytest.mark.parametrize(
    "tail",
    [
        "\nECC: No errors detected",
        "\nECC: No errors detected\n",
        "\nECC: 3 Corrected bytes, 1 unrecoverable blocks\n",
        "\nNo errors detected\n",
    ],
)
def test_ecc_line_is_stripped_and_reported(tail: str) -> None:
    reason, count, part, body, ecc = parse_dmesg("Panic#2 Part2\n<6>[   90.000000] earlier line\n" + tail)
    assert body == "<6>[   90.000000] earlier line\n"
    assert ecc is not None and ("No errors" in ecc or "Corrected" in ecc)


def test_decompress_variants() -> None:
    text = b"Panic#1 Part3\n<6>[ 1.0] oldest\n"
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = raw.compress(text) + raw.flush()
    assert decompress(deflated) == (text, "deflate")
    assert decompress(zlib.compress(text)) == (text, "zlib")
    assert decompress(gzip.compress(text)) == (text, "gzip")
    assert decompress(b"\x01\x02not compressed") == (None, "unknown-algorithm")


def vector_j(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {
        "dmesg-ramoops-0": b"Oops#1 Part1\n<4>[   50.000000] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
        b"<4>[   50.000100] CPU: 2 UID: 0 PID: 77 Comm: kworker/2:1 Not tainted 6.8.0-synth #1\n",
        "dmesg-ramoops-1": b"Panic#2 Part1\n<0>[   98.765432] Kernel panic - not syncing: Fatal exception\n",
        "dmesg-ramoops-2": b"Panic#2 Part2\n<6>[   90.000000] earlier line\n" + b"\nECC: No errors detected",
        "console-ramoops-0": b"[   1.0] console text\n",
        "pmsg-ramoops-0": os.urandom(16),
        "dmesg-efi-172000000001001": b"Panic#1 Part1\n<0>[ 3.0] Kernel panic - not syncing: newest\n",
        "dmesg-efi-172000000002001": b"Panic#1 Part2\n<6>[ 2.0] older\n",
    }
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    files["dmesg-efi-172000000003001.enc.z"] = c.compress(b"Panic#1 Part3\n<6>[ 1.0] oldest\n") + c.flush()
    for name, data in files.items():
        (d / name).write_bytes(data)


def test_vector_j_grouping(tmp_path: Path) -> None:
    vector_j(tmp_path)
    crashes = group(scan(tmp_path))
    by_key = {(c.backend, c.reason, c.count): c for c in crashes}
    assert set(by_key) == {("ramoops", "Oops", 1), ("ramoops", "Panic", 2), ("efi", "Panic", 1)}
    panic = by_key["ramoops", "Panic", 2]
    assert [p.part for p in panic.parts] == [2, 1]
    assert panic.text() == "[   90.000000] earlier line\n[   98.765432] Kernel panic - not syncing: Fatal exception\n"
    assert panic.parts[0].ecc == "ECC: No errors detected"
    efi = by_key["efi", "Panic", 1]
    assert [p.part for p in efi.parts] == [3, 2, 1]
    assert efi.parts[0].compression == "deflate"
    assert efi.text().splitlines() == ["[ 1.0] oldest", "[ 2.0] older", "[ 3.0] Kernel panic - not syncing: newest"]
    assert efi.time == 1720000000 and efi.missing_parts == []
    # console/pmsg belong to the newest dump (ramoops files have the newest times here)
    extras = {f.name.name for c in crashes for f in c.extras}
    assert extras == {"console-ramoops-0", "pmsg-ramoops-0"}


def test_missing_part_is_reported(tmp_path: Path) -> None:
    for part in (1, 2, 4):
        (tmp_path / f"dmesg-efi-17200000000{part}001").write_bytes(
            f"Panic#1 Part{part}\n<6>[ {5 - part}.0] p{part}\n".encode()
        )
    (crash,) = group(scan(tmp_path))
    assert crash.missing_parts == [3]
    assert [p.part for p in crash.parts] == [4, 2, 1]


def test_same_count_in_another_boot_is_another_dump(tmp_path: Path) -> None:
    a = tmp_path / "dmesg-erst-100"
    b = tmp_path / "dmesg-erst-200"
    a.write_bytes(b"Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: first boot\n")
    b.write_bytes(b"Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: second boot\n")
    os.utime(a, (1_700_000_000, 1_700_000_000))
    os.utime(b, (1_700_086_400, 1_700_086_400))
    crashes = group(scan(tmp_path))
    assert len(crashes) == 2
    assert crashes[0].text().endswith("first boot\n")


def test_real_ramoops_records(ref_pstore: Path) -> None:
    crashes = group(scan(ref_pstore / "oops-then-panic"))
    assert [(c.reason, c.count) for c in sorted(crashes, key=lambda c: c.count or 0)] == [("Oops", 1), ("Panic", 2)]
    for c in crashes:
        assert c.parts[0].ecc == "ECC: No errors detected"
        assert "ECC" not in c.text()
        assert not c.text().startswith("<")


def test_symlink_in_pstore_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("x")
    d = tmp_path / "pstore"
    d.mkdir()
    (d / "dmesg-ramoops-0").symlink_to(secret)
    with pytest.raises(UnsafePathError, match="dmesg-ramoops-0"):
        read_file(d / "dmesg-ramoops-0")
