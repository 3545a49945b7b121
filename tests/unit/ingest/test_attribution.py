"""Evidence is attributed correctly (issue 10 D): the crashing CPU's registers, each archived
boot's pstore files, and a sparse dump's holes."""

from __future__ import annotations

import os
from pathlib import Path

from tests.unit.ingest.scenario import Machine, sysrq_messages

IMG = 0xFFFFFFFF81000000


def messages_on(cpu: int, pid: int) -> list[tuple[int, str]]:
    return [
        (ns, f"CPU: {cpu} PID: {pid} Comm: bash Kdump: loaded Not tainted 6.1.0-56-amd64 #1" if "PID:" in t else t)
        for ns, t in sysrq_messages()
    ]


def test_registers_come_from_the_note_of_the_crashing_pid(tmp_path: Path) -> None:
    """/proc/vmcore drops the notes of CPUs that saved none: CPU 1 offline, the crash on CPU 2,
    so the second note is CPU 2's — position 2 would be CPU 3's."""
    m = Machine(tmp_path)
    notes = [(0, IMG + 0x1000, IMG + 0x2000), (4321, IMG + 0x8A1236, IMG + 0x3000), (77, IMG + 0x5555, IMG + 0x4000)]
    from tests.vmcore_builder import write_elf_vmcore

    d = m.capture()
    write_elf_vmcore(d / "vmcore", messages_on(2, 4321), cpus=notes)
    m.ingest()
    (rec,) = m.records()
    panic = m.metadata(rec)["panic"]
    assert (panic["cpu"], panic["pid"]) == (2, 4321)
    assert panic["pc"] == f"0x{IMG + 0x8A1236:x}"
    assert not [w for w in panic.get("warnings", []) if "PID" in w]


def test_ambiguous_pid_takes_no_registers(tmp_path: Path) -> None:
    """PID 0 (idle) is on every CPU: without one matching note, no guess."""
    m = Machine(tmp_path)
    notes = [(0, IMG + 0x1000, IMG + 0x2000), (0, IMG + 0x1100, IMG + 0x2100), (0, IMG + 0x1200, IMG + 0x2200)]
    from tests.vmcore_builder import write_elf_vmcore

    d = m.capture()
    write_elf_vmcore(d / "vmcore", messages_on(2, 0), cpus=notes)
    m.ingest()
    (rec,) = m.records()
    panic = m.metadata(rec)["panic"]
    assert panic["pc"] is None and panic["cpu"] == 2


def test_same_console_name_in_two_archived_boots_keeps_both(tmp_path: Path) -> None:
    m = Machine(tmp_path)
    archive = m.paths.systemd_pstore_archive
    for boot, text in (("aaaa", b"first boot's console\n"), ("bbbb", b"second boot's console\n")):
        (archive / boot).mkdir(parents=True)
        (archive / boot / "console-ramoops-0").write_bytes(text)
    (archive / "bbbb" / "dmesg-ramoops-0").write_bytes(b"Panic#1 Part1\n<0>[ 3.0] Kernel panic - not syncing: x\n")
    m.ingest()
    stored = {p.read_bytes() for r in m.records() for p in (r / "pstore").rglob("console-ramoops-0")}
    assert stored == {b"first boot's console\n", b"second boot's console\n"}
    for r in m.records():
        meta = m.metadata(r)
        listed = [f for s in meta["sources"]["pstore"] for f in s["files"]]
        assert len(listed) == len(set(listed))
        assert all(f"pstore/{f}" in meta["files"] for f in listed)
    assert m.ingest().created == []


def test_sparse_dump_stays_sparse_across_file_systems(tmp_path: Path) -> None:
    import subprocess

    import pytest

    m = Machine(tmp_path)
    mounted = []
    for where, size in ((m.spool, "300m"), (m.store, "32m")):  # the store is far smaller than the dump's size
        where.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True, check=False)
        if res.returncode != 0:
            for w in mounted:
                subprocess.run(["umount", str(w)], check=False)
            pytest.skip(f"cannot mount tmpfs: {res.stderr.strip()}")
        mounted.append(where)
    try:
        d = m.capture()
        with open(d / "vmcore", "r+b") as fh:  # 256 MiB of which only the ELF data is allocated
            fh.truncate(256 << 20)
            fh.seek((256 << 20) - 4096)
            fh.write(b"\x01" * 4096)
        before = os.stat(d / "vmcore")
        result = m.ingest()
        assert result.problems == []
        (rec,) = m.records()
        after = os.stat(rec / "vmcore")
        assert after.st_size == before.st_size
        assert after.st_blocks * 512 < 8 << 20, after.st_blocks
        assert (rec / "vmcore").read_bytes()[-4096:] == b"\x01" * 4096
    finally:
        for w in reversed(mounted):
            subprocess.run(["umount", str(w)], check=False)
