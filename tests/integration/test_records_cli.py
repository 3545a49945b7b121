"""``crashd list/show/remove`` as subprocesses against a fake store."""

from __future__ import annotations

import json
from pathlib import Path

from crashd.core.paths import HostPaths
from tests.integration.cli import run_crashd
from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages


def populated(tmp_path: Path) -> tuple[Path, list[str]]:
    m = Machine(tmp_path)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.0)), mtime=1_700_000_000)
    m.ingest()
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(6.0)), mtime=1_700_086_400)
    m.ingest()
    return tmp_path, [r.name for r in m.records()]


def test_list_empty(tmp_path: Path) -> None:
    res = run_crashd(["list"], tmp_path)
    assert res.returncode == 0 and res.stdout == "" and "No crash records" in res.stderr
    res = run_crashd(["list", "--json"], tmp_path)
    assert json.loads(res.stdout) == {"version": 1, "records": []}


def test_list_table_and_json(tmp_path: Path) -> None:
    root, names = populated(tmp_path)
    assert len(names) == 2
    res = run_crashd(["list"], root)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:4] == ["TIME", "RECORD", "KIND", "KERNEL"]
    assert names[0] in lines[1] and names[1] in lines[2]
    assert "Kernel panic - not syncing: sysrq triggered crash" in lines[1]
    rows = json.loads(run_crashd(["list", "--json"], root).stdout)["records"]
    assert [r["name"] for r in rows] == names
    assert rows[0]["pstore"] is True and rows[0]["vmcore"] is False and rows[0]["complete"] is True
    assert rows[0]["crash_time"] == "2023-11-14T22:13:20Z"


def test_show_text_and_prefix(tmp_path: Path) -> None:
    root, names = populated(tmp_path)
    res = run_crashd(["show", names[1][:10]], root)
    assert res.returncode == 0, res.stderr
    assert f"Record: {names[1]}" in res.stdout
    assert "Message: Kernel panic - not syncing: sysrq triggered crash" in res.stdout
    assert "sysrq_handle_crash+0x16/0x20" in res.stdout


def test_unknown_and_ambiguous_ids(tmp_path: Path) -> None:
    root, names = populated(tmp_path)
    res = run_crashd(["show", "1999"], root)
    assert res.returncode == 1 and "no crash record matches '1999'" in res.stderr
    res = run_crashd(["show", "20"], root)
    assert res.returncode == 1 and "ambiguous" in res.stderr and names[0] in res.stderr
    res = run_crashd(["remove", "nope"], root)
    assert res.returncode == 1


def test_remove(tmp_path: Path) -> None:
    root, names = populated(tmp_path)
    res = run_crashd(["remove", names[0]], root)
    assert res.returncode == 0 and res.stdout.strip() == f"removed {names[0]}"
    assert not (HostPaths(root).crash_store / names[0]).exists()
    rows = json.loads(run_crashd(["list", "--json"], root).stdout)["records"]
    assert [r["name"] for r in rows] == names[1:]


def test_show_of_a_damaged_record_is_one_clear_line(tmp_path: Path) -> None:
    root, names = populated(tmp_path)
    (HostPaths(root).crash_store / names[0] / "metadata.json").write_text("{not json")
    res = run_crashd(["show", names[0]], root)
    assert res.returncode == 1
    assert "metadata.json: unreadable" in res.stderr and "Traceback" not in res.stderr
    listed = run_crashd(["list"], root)
    assert listed.returncode == 0 and "(metadata unreadable)" in listed.stdout
