"""Hostile inputs from issue 10 F2, each in a child process under CPU-time and memory limits,
and ``crashd inspect``/``dmesg`` on them: one line and exit 1 (or a warning), never a traceback."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.vmcore.bounded import REPO, run_bounded
from tests.vmcore_builder import note, vector_a, write_elf

NOTE_AREA = 64 << 20


def _many_notes_elf(path: Path, headers: int) -> None:
    """An ELF64 core whose ``headers`` PT_NOTEs all cover the same 64 MiB of 16-byte notes."""
    phoff, n = 64, headers
    data_off = 4096
    ehdr = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 4, 62, 1, 0, phoff, 0, 0, 64, 56, n,
                                                             0, 0, 0)
    phdrs = b"".join(struct.pack("<IIQQQQQQ", 4, 0, data_off, 0, 0, NOTE_AREA, NOTE_AREA, 4) for _ in range(n))
    tiny = note(b"X", 7, b"")  # 16 bytes: the most Note objects per byte
    with path.open("wb") as f:
        f.write((ehdr + phdrs).ljust(data_off, b"\0"))
        f.write(tiny * (NOTE_AREA // len(tiny)))


def test_sixteen_note_headers_over_one_big_area_read_it_once(tmp_path: Path) -> None:
    """Was ~0.5 GB per header and an out-of-memory kill."""
    path = tmp_path / "notes.elf"
    _many_notes_elf(path, 16)
    out = run_bounded(
        "from crashd.vmcore import open_dump\n"
        f"d = open_dump({str(path)!r})\n"
        "print(len(d.container.notes))\n"
        "print(*d.warnings, sep='\\n')\n",
        cpu_seconds=20, memory=256 << 20,
    )
    count, *warnings = out.splitlines()
    assert int(count) == 1 << 16
    assert "note segments overlap in the file: each byte is read once" in warnings
    assert "more than 65536 notes: the rest is ignored" in warnings


def _crashd(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crashd", *argv], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)


def _vmcoreinfo_changed(path: Path, **values: str) -> None:
    m = vector_a()
    lines = []
    for ln in m.vmcoreinfo.splitlines():
        key = ln.partition("=")[0]
        lines.append(f"{key}={values.pop(key)}" if key in values else ln)
    lines += [f"{k}={v}" for k, v in values.items()]
    write_elf(path, replace(m, vmcoreinfo="\n".join(lines) + "\n"))


def test_a_29_digit_crash_time_is_a_warning_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    _vmcoreinfo_changed(path, CRASHTIME="1" * 29)
    proc = _crashd("inspect", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert next(ln for ln in proc.stdout.splitlines() if ln.startswith("crash time:")).split() == [
        "crash", "time:", "unknown"]
    assert "warning: VMCOREINFO CRASHTIME=11111111111111111111111111111 ignored" in proc.stdout


@pytest.mark.parametrize("key", ["OFFSET(printk_info.ts_nsec)", "SIZE(prb_desc)", "OFFSET(prb_desc_ring.descs)"])
def test_a_negative_printk_offset_is_one_line_and_exit_1(tmp_path: Path, key: str) -> None:
    path = tmp_path / "vmcore"
    _vmcoreinfo_changed(path, **{key: "-1"})
    proc = _crashd("dmesg", str(path))
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (f"crashd dmesg: {path}: no kernel log: VMCOREINFO {key}='-1' is invalid"
                                            " (negative or too large): the printk ring cannot be read")
    assert "Traceback" not in proc.stderr
    inspect = _crashd("inspect", str(path))
    assert inspect.returncode == 0 and "Traceback" not in inspect.stderr
    assert f"warning: dmesg unavailable: VMCOREINFO {key}='-1' is invalid" in inspect.stdout


@pytest.mark.parametrize("content", [b"", b"\x7fELF\x02\x01\x01" + bytes(60), b"KDUMP   " + b"\xff" * 600,
                                     b"makedumpfile\0\0\0\0" + struct.pack(">qq", 1, 1) + bytes(4064)
                                     + struct.pack(">qq", 1 << 62, 1 << 62), os.urandom(4096)])
def test_garbage_is_one_line_and_exit_1(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vmcore"
    path.write_bytes(content)
    for verb in ("inspect", "dmesg"):
        proc = _crashd(verb, str(path))
        assert proc.returncode == 1, (verb, proc.stdout, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(f"crashd {verb}: "), proc.stderr


def test_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "vmcore"
    os.mkfifo(path)
    proc = _crashd("inspect", str(path))
    assert proc.returncode == 1
    assert proc.stderr == f"crashd inspect: {path}: not a regular file\n"
