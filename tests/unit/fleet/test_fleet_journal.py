"""Reading crash entries back from journals: journalctl -o json's real shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from crashd.ingest.fleet_journal import (
    JournalReadError,
    field_text,
    journalctl_argv,
    parse_entries,
    read_journal,
)
from crashd.ingest.journal_fields import RECORD_MESSAGE_ID

MID_A = "5c1b0d9f3e2a4c6b8d7e9f0a1b2c3d4e"
MID_B = "0123456789abcdef0123456789abcdef"
SIG = "3f0b8f4c2a1d9e77"
PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def entry(host: str, mid: str, record: str, sig: str = SIG, **extra: object) -> dict[str, object]:
    """One record_created entry as `journalctl -o json` prints it (trusted fields included)."""
    e: dict[str, object] = {
        "__CURSOR": "s=9e0d;i=1;b=1111;m=bc614e;t=644f7948ad000;x=e543",
        "__REALTIME_TIMESTAMP": "1764680000000000",
        "__MONOTONIC_TIMESTAMP": "12345678",
        "_BOOT_ID": "1111aaaa8c1e4a539d558c2ba3b7e1a2",
        "_HOSTNAME": host,
        "_MACHINE_ID": mid,
        "PRIORITY": "5",
        "SYSLOG_IDENTIFIER": "crashd",
        "MESSAGE_ID": RECORD_MESSAGE_ID,
        "MESSAGE": f"Kernel crash in the previous boot recorded as {record}: {PANIC} (kdump, signature {sig})",
        "CRASHD_RECORD": record,
        "CRASHD_SIGNATURE": sig,
        "CRASHD_KERNEL": "6.1.0-56-amd64",
        "CRASHD_KIND": "kdump",
        "CRASHD_PANIC": PANIC,
        "CRASHD_PANIC_KIND": "sysrq",
        "CRASHD_HOST": host,
        "CRASHD_MACHINE_ID": mid,
        "CRASHD_COMPLETE": "yes",
        "CRASHD_CRASH_TIME": "2026-12-02T13:00:00Z",
    }
    e.update(extra)
    return {k: v for k, v in e.items() if v is not None}


def lines(*entries: dict[str, object]) -> list[str]:
    return [json.dumps(e) for e in entries]


def test_field_shapes() -> None:
    assert field_text("plain") == "plain"
    assert field_text([98, 97, 100, 255]) == "bad\ufffd"  # not UTF-8: an array of byte values
    assert field_text(["one", "two"]) == "one"  # a repeated field: an array of its values
    assert field_text([[104, 105, 255], "x"]) == "hi\ufffd"  # repeated, the first binary
    assert field_text(None) is None and field_text(7) is None and field_text({"a": 1}) is None
    assert field_text([]) == ""


def test_counts_per_signature_across_hosts() -> None:
    view = parse_entries(lines(
        entry("web-1", MID_A, "20261202T130000-kdump-aaaaaaaa"),
        entry("web-2", MID_B, "20261202T130500-kdump-bbbbbbbb", CRASHD_CRASH_TIME="2026-12-02T13:05:00Z"),
        entry("web-1", MID_A, "20261202T140000-pstore-cccccccc", sig="99aa", CRASHD_KIND="pstore",
              CRASHD_CRASH_TIME="2026-12-02T14:00:00Z"),
    ))
    assert [c.host for c in view.crashes] == ["web-1", "web-2", "web-1"]
    sigs = view.signatures()
    assert sigs[0]["signature"] == SIG and sigs[0]["count"] == 2 and sigs[0]["hosts"] == ["web-1", "web-2"]
    assert sigs[0]["first"] == "2026-12-02T13:00:00Z" and sigs[0]["last"] == "2026-12-02T13:05:00Z"
    assert sigs[0]["panic"] == PANIC
    assert sigs[1] == {**sigs[1], "signature": "99aa", "count": 1, "host_count": 1}
    hosts = view.hosts()
    assert [(h["host"], h["count"]) for h in hosts] == [("web-1", 2), ("web-2", 1)]
    assert view.problems == [] and view.skipped == 0


def test_binary_and_repeated_values_are_read() -> None:
    bad = list(b"Kernel panic - not syncing: \x1b[2Jevil") + [0xFF]
    view = parse_entries(lines(entry("web-1", MID_A, "r1", CRASHD_PANIC=bad,
                                     CRASHD_SIGNATURE=[SIG, "forged"])))
    (crash,) = view.crashes
    assert crash.signature == SIG
    assert crash.panic is not None and "\x1b" not in crash.panic and crash.panic.startswith("Kernel panic")
    assert crash.panic.endswith("\ufffd")


def test_older_entries_fall_back_to_the_trusted_fields_and_message() -> None:
    """Entries of a crashd before CRASHD_HOST/CRASHD_PANIC: journald's _HOSTNAME, the MESSAGE."""
    view = parse_entries(lines(entry("old-box", MID_A, "20261127T101500-kdump-1a2b3c4d", CRASHD_HOST=None,
                                     CRASHD_MACHINE_ID=None, CRASHD_PANIC=None, CRASHD_COMPLETE=None,
                                     CRASHD_CRASH_TIME=None)))
    (crash,) = view.crashes
    assert (crash.host, crash.machine_id) == ("old-box", MID_A)
    assert crash.panic == PANIC and crash.complete is None
    assert crash.logged_at == "2025-12-02T12:53:20Z" and crash.time == crash.logged_at


def test_hostile_host_names_are_not_trusted() -> None:
    view = parse_entries(lines(entry("../../etc", "not-an-id", "r1", CRASHD_HOST="a\nb")))
    (crash,) = view.crashes
    assert crash.host is None and crash.machine_id is None
    assert view.signatures()[0]["hosts"] == ["unknown host"]


def test_garbage_lines_are_counted_not_fatal() -> None:
    view = parse_entries(["{not json", "[1,2]", json.dumps({"MESSAGE_ID": RECORD_MESSAGE_ID}),
                          json.dumps(entry("web-1", MID_A, "r1"))])
    assert len(view.crashes) == 1 and view.skipped == 3
    assert "not JSON" in view.problems[0] and "not a JSON object" in view.problems[1]
    assert "no CRASHD_RECORD" in view.problems[2]


def test_the_same_record_seen_twice_counts_once() -> None:
    e = entry("web-1", MID_A, "r1")
    view = parse_entries(lines(e, e, entry("web-1", MID_B, "r1")))  # a clone with another machine id: two
    assert len(view.crashes) == 2


def test_argv_matches_one_message_id(tmp_path: Path) -> None:
    root = HostPaths(Path("/"))
    argv = journalctl_argv(root, files=["/srv/a.journal"])
    assert argv[0] == "journalctl" and "--output=json" in argv and "--all" in argv
    assert argv[-1] == f"MESSAGE_ID={RECORD_MESSAGE_ID}" and "--file=/srv/a.journal" in argv
    assert "--merge" in journalctl_argv(root) and not any(a.startswith("--root") for a in journalctl_argv(root))
    assert f"--root={tmp_path}" in journalctl_argv(HostPaths(tmp_path))


def _fake_journalctl(tmp_path: Path, body: str, rc: int = 0, stderr: str = "") -> ToolRunner:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "out").write_text(body)
    (bin_dir / "err").write_text(stderr)
    tool = bin_dir / "journalctl"
    tool.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {bin_dir}/argv\ncat {bin_dir}/out\ncat {bin_dir}/err >&2\nexit {rc}\n')
    tool.chmod(0o755)
    return ToolRunner(path=f"{bin_dir}:/usr/bin:/bin")


def test_read_journal_through_the_tool_seam(tmp_path: Path) -> None:
    f = tmp_path / "a.journal"
    f.write_bytes(b"")
    tools = _fake_journalctl(tmp_path, "\n".join(lines(entry("web-1", MID_A, "r1"))) + "\n",
                             stderr="Journal file /x/bad.journal is truncated, ignoring file.\n")
    view = read_journal(tools, HostPaths(Path("/")), files=[str(f)])
    assert len(view.crashes) == 1
    assert view.problems == ["journalctl: Journal file /x/bad.journal is truncated, ignoring file."]
    assert f"--file={f}" in (tmp_path / "bin" / "argv").read_text().splitlines()


def test_read_journal_failures_are_one_clear_error(tmp_path: Path) -> None:
    tools = _fake_journalctl(tmp_path, "", rc=1, stderr="Failed to open files: No data available\n")
    f = tmp_path / "garbage.journal"
    f.write_bytes(b"garbage")
    with pytest.raises(JournalReadError, match="No data available"):
        read_journal(tools, HostPaths(Path("/")), files=[str(f)])
    with pytest.raises(JournalReadError, match="no such journal file"):
        read_journal(tools, HostPaths(Path("/")), files=[str(tmp_path / "missing.journal")])
    with pytest.raises(JournalReadError, match="not a directory"):
        read_journal(tools, HostPaths(Path("/")), directories=[str(tmp_path / "nodir")])


def test_one_run_per_directory_and_a_missing_source_does_not_block_the_others(tmp_path: Path) -> None:
    """journalctl takes one --directory (and none beside --file): one run each, merged."""
    tools = _fake_journalctl(tmp_path, "\n".join(lines(entry("web-1", MID_A, "r1"))) + "\n")
    d1, d2 = tmp_path / "remote1", tmp_path / "remote2"
    d1.mkdir()
    d2.mkdir()
    f = tmp_path / "a.journal"
    f.write_bytes(b"")
    view = read_journal(tools, HostPaths(Path("/")), directories=[str(d1), str(d2), str(tmp_path / "gone")],
                        files=[str(f), str(tmp_path / "missing.journal")])
    argv = (tmp_path / "bin" / "argv").read_text().splitlines()
    assert argv.count(f"--directory={d1}") == 1 and argv.count(f"--directory={d2}") == 1
    assert argv.count(f"--file={f}") == 1 and argv.count(f"MESSAGE_ID={RECORD_MESSAGE_ID}") == 3
    assert len(view.crashes) == 1  # the same record from three runs counts once
    assert view.problems == [f"{tmp_path / 'gone'}: not a directory of journal files",
                             f"{tmp_path / 'missing.journal'}: no such journal file"]
