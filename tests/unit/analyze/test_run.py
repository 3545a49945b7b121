"""The analysis at ingest: bounded, after the record, never breaking it; the text; the schema."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from crashd.analyze.report import fault_address, top_frames
from crashd.analyze.run import ANALYSIS_JSON, ANALYSIS_TXT, at_ingest, bounded_argv, read_analysis, run_bounded
from crashd.analyze.schema import empty, validate
from crashd.analyze.taint import explain_taint, taint_letters
from crashd.analyze.text import format_frame, format_report
from crashd.core.config import default_config
from crashd.core.paths import HostPaths
from crashd.core.settings import AnalyzeConfig
from crashd.core.tools import ToolRunner
from tests.unit.analyze.elfs import write_vmlinux
from tests.vmcore_builder import build_machine, write_elf

REL = "6.1.0-57-amd64"
BID = "6a2b4ac77585b8cf102cba771300e573c8489b69"


def _config(**kw: object) -> AnalyzeConfig:
    return AnalyzeConfig(**{**default_config().analyze.__dict__, **kw})  # type: ignore[arg-type]


def _record(root: Path, build_id: str | None = BID) -> tuple[HostPaths, Path, Path]:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text("ID=debian\n")
    record = root / "var/lib/crash/20261202T140302-kdump-1799bbbf"
    record.mkdir(parents=True)
    m, _ = build_machine(["Kernel panic - not syncing: sysrq triggered crash"], release=REL)
    if build_id:
        m.vmcoreinfo += f"BUILD-ID={build_id}\n"
    dump = record / "vmcore"
    write_elf(dump, m)
    (record / "metadata.json").write_text(json.dumps({"sources": {"vmcore": {"file": "vmcore"}}}))
    return HostPaths(root), record, dump


def test_without_debug_info_the_record_names_the_package_once_and_nothing_runs(tmp_path: Path) -> None:
    paths, record, dump = _record(tmp_path)
    before = {p.name: p.read_bytes() for p in record.iterdir()}
    failures: list[str] = []
    tools = ToolRunner(path=str(tmp_path / "nothing"))  # any tool run would fail: none may be
    line = at_ingest(paths, _config(), tools, record, dump, failures.append)
    assert failures == []
    assert line == f"{record.name}: no debug info; install linux-image-{REL}-dbg and run crashd analyze {record.name}"
    report = read_analysis(record)
    assert report is not None and validate(report) == []
    assert report["status"] == "no-debuginfo" and report["install"] == f"linux-image-{REL}-dbg"
    assert f"install linux-image-{REL}-dbg" in (record / ANALYSIS_TXT).read_text()
    assert {p.name: p.read_bytes() for p in record.iterdir() if p.name in before} == before
    assert oct((record / ANALYSIS_JSON).stat().st_mode & 0o777) == "0o600"


def test_on_ingest_no_does_nothing(tmp_path: Path) -> None:
    paths, record, dump = _record(tmp_path)
    assert at_ingest(paths, _config(on_ingest="no"), ToolRunner(), record, dump, pytest.fail) is None
    assert not (record / ANALYSIS_JSON).exists()


def test_a_failing_analysis_is_one_message_and_the_record_stays(tmp_path: Path) -> None:
    paths, record, dump = _record(tmp_path)
    write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    before = sorted(p.name for p in record.iterdir())
    failures: list[str] = []
    child = [sys.executable, "-c", "import sys; print('drgn: corrupt dump', file=sys.stderr); sys.exit(1)"]
    line = at_ingest(paths, _config(), ToolRunner(), record, dump, failures.append, argv0=child)
    assert line is None
    assert failures == [f"{record.name}: analysis failed (exit 1): drgn: corrupt dump"]
    assert sorted(p.name for p in record.iterdir()) == before


def test_an_analysis_past_its_time_limit_is_stopped(tmp_path: Path) -> None:
    paths, record, dump = _record(tmp_path)
    write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    failures: list[str] = []
    child = [sys.executable, "-c", "import time; time.sleep(60)"]
    at_ingest(paths, _config(time_limit=1), ToolRunner(), record, dump, failures.append, argv0=child)
    assert len(failures) == 1 and "analysis stopped" in failures[0] and "timed out after 1" in failures[0]


def test_an_unreadable_dump_is_one_message(tmp_path: Path) -> None:
    paths, record, dump = _record(tmp_path)
    dump.write_bytes(b"garbage" * 100)
    failures: list[str] = []
    assert at_ingest(paths, _config(), ToolRunner(), record, dump, failures.append) is None
    assert len(failures) == 1 and "the dump cannot be read" in failures[0]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="prlimit (util-linux) not installed")
def test_the_memory_cap_holds(tmp_path: Path) -> None:
    hog = [sys.executable, "-c", "b = bytearray(1 << 30); print('allocated')"]
    res = run_bounded(ToolRunner(), hog, time_limit=60, memory_max=256 << 20)
    assert not res.ok and "MemoryError" in res.stderr
    res = run_bounded(ToolRunner(), hog, time_limit=60, memory_max=0)
    assert res.ok and res.stdout.strip() == "allocated"


def test_the_analysis_runs_at_low_priority() -> None:
    argv = bounded_argv(ToolRunner(), ["crashd", "analyze", "X"], 1 << 30)
    assert argv[-3:] == ["crashd", "analyze", "X"]
    if shutil.which("nice"):
        assert argv[:3] == ["nice", "-n", "19"]
    probe = [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"]
    res = run_bounded(ToolRunner(), probe, time_limit=30, memory_max=1 << 30)
    assert res.ok and int(res.stdout) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 19)


def test_frames_and_report_text_are_for_a_person_and_cleaned() -> None:
    frame = {"function": "sysrq_handle_crash", "file": "drivers/tty/sysrq.c", "line": 155, "inline": False,
             "pc": "0xffffffff84090926", "symbol": "sysrq_handle_crash+0x16/0x16"}
    assert format_frame(3, frame) == "#3  sysrq_handle_crash at drivers/tty/sysrq.c:155"
    assert format_frame(0, {**frame, "inline": True}).endswith(" (inlined)")
    assert format_frame(13, {**frame, "function": None, "file": None, "line": None, "pc": "0x7f8e"}) == "#13 0x7f8e"
    report = empty("ok", {"release": REL, "build_id": BID})
    report["crashed"] = {"cpu": 0, "pid": 322, "comm": "evil\x1b[2J", "frames": [frame]}
    report["tasks"] = [{"pid": 7, "state": "D", "comm": "kworker/0:1", "cpu": 0}]
    report["tasks_total"] = 1
    report["taint"] = {"mask": 4097, "letters": taint_letters(4097), "flags": explain_taint(4097)}
    text = format_report(report)
    assert "\x1b" not in text and "evil\\x1b[2J" in text
    assert "    #0  sysrq_handle_crash at drivers/tty/sysrq.c:155" in text
    assert "Tasks: 1 (1 in D state, 0 running)" in text
    assert "Taint: PO (4097)" in text and "O: an out-of-tree module was loaded" in text
    assert validate(json.loads(json.dumps(report))) == []


def test_the_schema_catches_what_a_reader_would_trip_on() -> None:
    report = empty("ok", {"release": REL, "build_id": None})
    assert validate(report) == ["status ok without a crashed-task backtrace or a problem saying why"]
    report["crashed"] = {"cpu": 0, "pid": 1, "comm": "x", "frames": [{"function": "f", "line": "12"}]}
    assert any(e.startswith("bad frame") for e in validate(report))
    assert "status 'maybe' not one of ok, no-debuginfo, no-drgn, failed" in validate({**report, "status": "maybe"})
    assert "missing problems" in validate({k: v for k, v in report.items() if k != "problems"})


def test_fault_address_and_top_frames() -> None:
    assert fault_address("BUG: unable to handle page fault for address: ffffc90000a3f000\n") == 0xFFFFC90000A3F000
    assert fault_address("BUG: kernel NULL pointer dereference, address: 0000000000000008\n"
                         "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008") == 8
    assert fault_address("Kernel panic - not syncing: sysrq triggered crash") is None
    names = ["crash_setup_regs", "__crash_kexec", "panic", "sysrq_handle_crash", "__handle_sysrq", None]
    frames = [{"function": n, "file": None, "line": None, "inline": False, "pc": "0x0", "symbol": None} for n in names]
    assert top_frames(frames, 2) == ["sysrq_handle_crash", "__handle_sysrq"]  # type: ignore[arg-type]
