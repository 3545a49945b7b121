"""The save orchestrator in-process: collectors, fallback chain, capture.json, targets."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import stat
from pathlib import Path

import pytest

from crashd.capture.save import Saver, crashed_boot_id
from crashd.capture.spool import SPOOL_DIR
from crashd.core.config import default_config
from crashd.core.paths import HostPaths
from crashd.core.settings import CaptureConfig
from crashd.core.tools import ToolRunner
from tests.fakeroot import build_root

from .elfcore import PAGE, Load, pattern, write_core

FAKES = Path(__file__).resolve().parents[2] / "fakes"
BOOT_ID = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"
RECORDER = """#!/bin/sh
echo "{cmd} $*" >> "{log}"
exit ${{FAKE_{name}_EXIT:-0}}
"""


@pytest.fixture
def root(tmp_path: Path) -> HostPaths:
    paths = build_root(
        tmp_path / "root",
        {"/proc/cmdline": f"console=ttyS0 nr_cpus=1 crashd.boot_id={BOOT_ID} elfcorehdr=0x1000\n", "/var/crash/": "",
         "/proc/meminfo": "MemTotal:         262144 kB\nMemFree:          160000 kB\nMemAvailable:     150000 kB\n"},
    )
    write_core(paths.vmcore, [Load(64 * PAGE, pages=pattern(1)), Load(32 * PAGE)], release="6.1.0-56-amd64")
    return paths


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """mount, umount, systemctl that record their argv in ``calls``."""
    d = tmp_path / "bin"
    d.mkdir()
    for name in ("mount", "umount", "systemctl"):
        exe = d / name
        exe.write_text(RECORDER.format(cmd=name, log=tmp_path / "calls", name=name.upper()))
        exe.chmod(0o755)
    return d


def _tools(bin_dir: Path, makedumpfile: bool = True, **env: str) -> ToolRunner:
    # Without makedumpfile: only the recorders (the real one lives in /usr/bin here).
    path = f"{bin_dir}:{FAKES}:/usr/bin:/bin" if makedumpfile else str(bin_dir)
    return ToolRunner(path=path, env={**os.environ, **env})


def _config(**changes: object) -> CaptureConfig:
    return dataclasses.replace(default_config().capture, **changes)  # type: ignore[arg-type]


class _Statvfs:
    def __init__(self, free: int):
        self.free = free

    def __call__(self, path: object) -> os.statvfs_result:
        n = self.free // 4096
        return os.statvfs_result((4096, 4096, 1 << 30, n, n, 1000, 1000, 1000, 0, 255))


def _run(root: HostPaths, tools: ToolRunner, config: CaptureConfig, **kw: object):  # type: ignore[no-untyped-def]
    console = io.StringIO()
    outcome = Saver(root, tools, config, console=console, mount_deadline=0, **kw).run()  # type: ignore[arg-type]
    return outcome, console.getvalue()


def _only_dir(parent: Path) -> Path:
    dirs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_boot_id_from_cmdline() -> None:
    assert crashed_boot_id(f"a crashd.boot_id={BOOT_ID} b") == BOOT_ID
    assert crashed_boot_id("crashd.boot_id=0f5c3b5e-8c1e-4a53-9d55-8c2ba3b7e1a2") == BOOT_ID
    assert crashed_boot_id("crashd.boot_id=xyz") is None
    assert crashed_boot_id("quiet") is None


def test_copy_collector_saves_complete_capture(root: HostPaths, bin_dir: Path) -> None:
    outcome, console = _run(root, _tools(bin_dir), _config(collector="copy"))
    assert outcome.complete
    d = _only_dir(root.var("crash", SPOOL_DIR))
    assert d.name.endswith(f"-{BOOT_ID[:8]}") and outcome.directory == d
    assert sorted(p.name for p in d.iterdir()) == ["capture.json", "dmesg.txt", "vmcore"]
    assert (d / "vmcore").read_bytes() == root.vmcore.read_bytes()
    for p in d.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    rec = json.loads((d / "capture.json").read_text())
    assert rec["complete"] is True and rec["collector"] == "copy" and rec["dump_file"] == "vmcore"
    assert rec["crashed_boot_id"] == BOOT_ID and rec["kernel_release"] == "6.1.0-56-amd64"
    assert rec["dmesg"] is True and rec["errors"] == []
    assert rec["estimated_size"] == root.vmcore.stat().st_size
    assert rec["bytes_written"] == root.vmcore.stat().st_size + (d / "dmesg.txt").stat().st_size
    assert list(rec) == sorted(rec)
    # dmesg first, then the dump: the steps say so, in order.
    assert rec["steps"][1].startswith("dmesg:") and rec["steps"][-1].startswith("copy:")
    assert "copy done" in console
    # what the save cost in memory (the fake root's /proc/meminfo), on the console as well
    mem = rec["memory"]
    assert mem["mem_total"] == 262144 * 1024 and mem["mem_available_start"] == 150000 * 1024
    assert mem["mem_available_min"] == 150000 * 1024 and mem["crashd_peak_rss"] > 0
    assert "crashd save: memory: MemTotal 256.0 MiB, MemAvailable 146.5 MiB at the start" in console


def test_makedumpfile_retries_lower_level_on_enospc(root: HostPaths, bin_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "mdf.log"
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_ENOSPC_LEVELS="31", FAKE_MAKEDUMPFILE_LOG=str(log))
    outcome, _ = _run(root, tools, _config(dump_level=(31, 1)))
    assert outcome.complete
    d = _only_dir(root.var("crash", SPOOL_DIR))
    rec = json.loads((d / "capture.json").read_text())
    assert (rec["collector"], rec["dump_level"], rec["compression"], rec["dump_file"]) == ("makedumpfile", 1, "lzo", "vmcore.kdump")
    assert any("makedumpfile -d 31 failed: ENOSPC" in e for e in rec["errors"])
    assert sorted(p.name for p in d.iterdir()) == ["capture.json", "dmesg.txt", "vmcore.kdump"]
    dumps = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    levels = [a[a.index("-d") + 1] for a in dumps if "-d" in a]
    assert levels == ["31", "1"]
    assert all("-l" in a for a in dumps if "-d" in a)


def test_enospc_at_every_level_keeps_dmesg_only(root: HostPaths, bin_dir: Path) -> None:
    other = root.var("crash", SPOOL_DIR, "20250101T000000-aaaaaaaa")
    other.mkdir(parents=True)
    (other / "vmcore").write_bytes(b"old dump")
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_ENOSPC_LEVELS="31,1")
    outcome, console = _run(root, tools, _config(dump_level=(31, 1)))
    assert not outcome.complete
    new = [p for p in root.var("crash", SPOOL_DIR).iterdir() if p != other]
    assert len(new) == 1 and not new[0].name.endswith(".incomplete")
    rec = json.loads((new[0] / "capture.json").read_text())
    assert rec["complete"] is False and rec["collector"] == "dmesg-only" and rec["dump_file"] is None
    assert rec["dmesg"] is True
    assert sorted(p.name for p in new[0].iterdir()) == ["capture.json", "dmesg.txt"]
    assert "every dump level ran out of space -> dmesg only" in rec["steps"]
    assert "ENOSPC" in console
    # Nothing else on the target was touched.
    assert (other / "vmcore").read_bytes() == b"old dump"


def test_makedumpfile_broken_falls_back_to_copy(root: HostPaths, bin_dir: Path) -> None:
    outcome, _ = _run(root, _tools(bin_dir, FAKE_MAKEDUMPFILE_EXIT="2"), _config())
    assert outcome.complete
    rec = outcome.record
    assert rec["collector"] == "copy" and rec["dump_file"] == "vmcore"
    assert any("exit 2" in e for e in rec["errors"])


def test_no_room_for_copy_goes_straight_to_dmesg_only(root: HostPaths, bin_dir: Path) -> None:
    outcome, _ = _run(
        root, _tools(bin_dir, makedumpfile=False), _config(min_free=1 << 20), statvfs=_Statvfs(1 << 20)
    )
    assert not outcome.complete
    rec = outcome.record
    assert rec["collector"] == "dmesg-only"
    assert any("-> dmesg only" in e and "min_free" in e for e in rec["errors"])
    d = _only_dir(root.var("crash", SPOOL_DIR))
    assert "vmcore" not in [p.name for p in d.iterdir()]


def test_no_room_for_makedumpfile(root: HostPaths, bin_dir: Path) -> None:
    outcome, _ = _run(root, _tools(bin_dir), _config(min_free=0), statvfs=_Statvfs(4096))
    assert not outcome.complete and outcome.record["collector"] == "dmesg-only"
    assert any("skipped" in e for e in outcome.record["errors"])


def test_makedumpfile_gets_the_budget_as_size_limit(root: HostPaths, bin_dir: Path, tmp_path: Path) -> None:
    """The vmcore is bigger than the budget: makedumpfile runs with -L and its
    "Size limit reached" counts as out of space."""
    write_core(root.vmcore, [Load(8 << 20, pages=pattern(2, density=64))])
    log = tmp_path / "mdf.log"
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_SIZE=str(3 << 20), FAKE_MAKEDUMPFILE_LOG=str(log))
    outcome, _ = _run(root, tools, _config(min_free=0), statvfs=_Statvfs(2 << 20))
    assert not outcome.complete
    argv = [json.loads(x)["argv"] for x in log.read_text().splitlines() if '"-d"' in x][0]
    assert argv[argv.index("-L") + 1] == str(2 << 20)
    assert any("ENOSPC" in e and "Size limit" in e for e in outcome.record["errors"])


def test_dmesg_falls_back_when_every_method_fails(root: HostPaths, bin_dir: Path) -> None:
    tools = _tools(bin_dir, FAKE_MAKEDUMPFILE_DMESG_FAIL="1")
    outcome, _ = _run(root, tools, _config(collector="copy"))
    rec = outcome.record
    assert rec["dmesg"] is False
    assert any("kernel log could not be extracted" in e for e in rec["errors"])
    assert any(s.startswith("dmesg: makedumpfile --dump-dmesg failed") for s in rec["steps"])
    # The dump itself still counts: complete refers to the dump.
    assert outcome.complete and rec["dump_file"] == "vmcore"


def test_not_an_elf_vmcore_keeps_dmesg_only(root: HostPaths, bin_dir: Path) -> None:
    root.vmcore.write_bytes(b"garbage" * 100)
    outcome, _ = _run(root, _tools(bin_dir, makedumpfile=False), _config())
    assert not outcome.complete
    assert any("headers unreadable" in e for e in outcome.record["errors"])
    assert outcome.directory is not None and (outcome.directory / "capture.json").exists()


def test_missing_target_directory_is_a_clear_error(root: HostPaths, bin_dir: Path) -> None:
    outcome, console = _run(root, _tools(bin_dir), _config(target="/nonexistent/dir"))
    assert not outcome.complete
    assert "capture target /nonexistent/dir: directory does not exist" in console
    # The kernel log is still kept, on the root file system's spool (issue 10 F).
    assert outcome.directory is not None and outcome.directory.parent == root.var("crash", SPOOL_DIR)


def test_device_target_is_mounted_and_unmounted(root: HostPaths, bin_dir: Path, tmp_path: Path) -> None:
    outcome, _ = _run(root, _tools(bin_dir, makedumpfile=False), _config(target="LABEL=debug", mount_options="noatime"))
    assert outcome.complete
    mp = root.state_dir / "target"
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"mount -o noatime LABEL=debug {mp}", f"umount {mp}"]
    assert outcome.directory is not None and outcome.directory.parent == mp / SPOOL_DIR


def test_unmountable_device_is_a_clear_error(root: HostPaths, bin_dir: Path) -> None:
    outcome, console = _run(root, _tools(bin_dir, FAKE_MOUNT_EXIT="32"), _config(target="UUID=1234-abcd"))
    assert not outcome.complete
    assert "capture target UUID=1234-abcd: cannot mount" in console


def test_unmountable_device_keeps_dmesg_on_the_root_file_system(root: HostPaths, bin_dir: Path) -> None:
    """Issue 10 F: dmesg.txt and capture.json go to /var/crash/crashd, naming the mount error."""
    outcome, _ = _run(root, _tools(bin_dir, FAKE_MOUNT_EXIT="32"), _config(target="UUID=1234-abcd"))
    d = _only_dir(root.var("crash", SPOOL_DIR))
    assert outcome.directory == d and not d.name.endswith(".incomplete")
    assert sorted(p.name for p in d.iterdir()) == ["capture.json", "dmesg.txt"]
    rec = json.loads((d / "capture.json").read_text())
    assert rec["complete"] is False and rec["dmesg"] is True and rec["dump_file"] is None
    assert any("capture target UUID=1234-abcd: cannot mount" in e for e in rec["errors"])
    assert any("kernel log to /var/crash/crashd" in st for st in rec["steps"])
    assert stat.S_IMODE(d.parent.stat().st_mode) == 0o700


def test_dmesg_from_crashd_reader_comes_first(root: HostPaths, bin_dir: Path) -> None:
    """With a vmcore holding a real printk ring, crashd's own reader writes dmesg.txt
    (no tool needed) and the copy of the same file is byte-identical."""
    from tests import vmcore_builder as builder  # in-tree: a broken builder must fail, not skip
    expected = builder.write_elf_vmcore(root.vmcore, ["Linux version 6.1.0-56-amd64", "Kernel panic - not syncing: test"])
    outcome, _ = _run(root, _tools(bin_dir, makedumpfile=False), _config())
    assert outcome.complete and outcome.directory is not None
    assert (outcome.directory / "dmesg.txt").read_text() == expected
    assert outcome.record["steps"][1].startswith("dmesg: crashd reader")
    assert (outcome.directory / "vmcore").read_bytes() == root.vmcore.read_bytes()


def test_real_enospc_during_copy_removes_only_the_partial_dump(root: HostPaths, bin_dir: Path) -> None:
    """statvfs claims room (as a racing writer would make it lie), the 3 MiB tmpfs
    then fills up mid-copy: the partial vmcore goes, dmesg and the older capture stay."""
    import shutil
    import subprocess

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    target = root.var("crash")  # a tmpfs root is 1777, as /var/crash is with apport
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(target)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")
    try:
        write_core(root.vmcore, [Load(8 << 20, pages=pattern(4, density=97))])
        old = target / SPOOL_DIR / "20250101T000000-aaaaaaaa"
        old.mkdir(parents=True)
        (old / "vmcore").write_bytes(b"older dump")
        outcome, console = _run(root, _tools(bin_dir), _config(collector="copy", min_free=0), statvfs=_Statvfs(1 << 30))
        assert not outcome.complete and outcome.directory is not None
        assert sorted(p.name for p in outcome.directory.iterdir()) == ["capture.json", "dmesg.txt"]
        assert any(e.startswith("copy failed: ENOSPC") for e in outcome.record["errors"])
        assert (old / "vmcore").read_bytes() == b"older dump"
        assert sorted(p.name for p in (target / SPOOL_DIR).iterdir()) == sorted([old.name, outcome.directory.name])
        assert "ENOSPC" in console
    finally:
        subprocess.run(["umount", str(target)], check=True)


class _Shrinking:
    """statvfs answers that follow a script (the last one repeats): a disk filling up."""

    def __init__(self, *free: int):
        self.free = list(free)

    def __call__(self, path: object) -> os.statvfs_result:
        n = (self.free.pop(0) if len(self.free) > 1 else self.free[0]) // 4096
        return os.statvfs_result((4096, 4096, 1 << 30, n, n, 1000, 1000, 1000, 0, 255))


def test_makedumpfile_failure_on_a_full_disk_counts_as_enospc(root: HostPaths, bin_dir: Path) -> None:
    """Its message did not say "No space", but the target is full afterwards: that is
    ENOSPC (next level), not a broken makedumpfile (which would try the copy)."""
    statvfs = _Shrinking(2 << 20, 512 << 10)
    outcome, _ = _run(root, _tools(bin_dir, FAKE_MAKEDUMPFILE_EXIT="1"), _config(dump_level=(31, 1), min_free=0), statvfs=statvfs)
    errors = outcome.record["errors"]
    assert any(e.startswith("makedumpfile -d 31 failed: ENOSPC") for e in errors)
    assert any(e.startswith("makedumpfile -d 1: skipped") for e in errors)
    assert outcome.record["collector"] == "dmesg-only"
