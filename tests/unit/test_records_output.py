"""What ``crashd list`` / ``show`` / ``remove`` print: true, readable, one line on failure (issue 10 E, F, F2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crashd.cli import main
from crashd.core.paths import HostPaths
from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages


@pytest.fixture(autouse=True)
def _fresh_logging() -> None:
    """main() binds the crashd logger to this test's stderr; drop an earlier test's (closed) one."""
    import logging

    logging.getLogger("crashd").handlers[:] = []


def one_record(tmp_path: Path) -> tuple[Path, str, Path]:
    m = Machine(tmp_path)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.0)), mtime=1_700_000_000)
    m.ingest()
    name = m.records()[0].name
    return tmp_path, name, HostPaths(tmp_path).crash_store / name / "metadata.json"


def edit(meta_path: Path, **changes: object) -> None:
    meta = json.loads(meta_path.read_text())
    for dotted, value in changes.items():
        node = meta
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    meta_path.write_text(json.dumps(meta))


def dmesg_only(meta_path: Path) -> None:
    # a capture to a full partition: capture.json and dmesg.txt kept, no dump file
    edit(meta_path, kind="kdump", sources__vmcore={"complete": None, "file": None, "format": None,
                                                   "spool": "20240101T000000-x", "warnings": ["dump not saved: ENOSPC"]})


def test_list_says_no_vmcore_when_only_dmesg_was_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, name, meta = one_record(tmp_path)
    dmesg_only(meta)
    assert main(["list", "--root", str(root)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    column = header.index("VMCORE")  # by position: the TIME column has spaces in it
    assert row[column:].split()[0] == "no"
    assert main(["list", "--json", "--root", str(root)]) == 0
    assert json.loads(capsys.readouterr().out)["records"][0]["vmcore"] is False


def test_show_never_prints_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, name, meta = one_record(tmp_path)
    dmesg_only(meta)
    edit(meta, panic__pid=7, panic__cpu=None, panic__comm=None)
    assert main(["show", name, "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "None" not in out, out
    assert "Dump: not kept" in out
    assert "dump not saved: ENOSPC" in out


def test_terminal_escapes_in_a_panic_line_are_not_printed_raw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, name, meta = one_record(tmp_path)
    edit(meta, panic__message="Kernel panic \x1b]0;owned\x07\x1b[2J\r\x9b", panic__call_trace=["evil\x1b[31m+0x1/0x2"])
    assert main(["list", "--root", str(root)]) == 0
    listed = capsys.readouterr().out
    assert main(["show", name, "--root", str(root)]) == 0
    shown = capsys.readouterr().out
    for out in (listed, shown):
        assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\x9b" not in out
        assert "\\x1b]0;owned" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a store a non-root user cannot read")
def test_unreadable_store_is_one_line_with_the_fix(tmp_path: Path) -> None:
    import subprocess
    import sys

    root, name, meta = one_record(tmp_path)
    store = HostPaths(root).crash_store
    store.chmod(0o700)
    tmp_path.chmod(0o755)
    for p in list(tmp_path.parents)[:-1]:
        if not os.access(p, os.X_OK):
            pytest.skip("tmp dir not traversable by nobody")
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); from crashd.cli import main; sys.exit(main(sys.argv[1:]))")
    res = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code,
                          "list", "--root", str(root)], capture_output=True, text=True, check=False)
    assert res.returncode == 1, res
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "crash records are readable by root only; try sudo" in lines[0], res.stderr


def test_remove_racing_another_remove_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import crashd.ingest.store as store

    root, name, meta = one_record(tmp_path)
    real_remove = store.remove_record

    def racing(path: Path) -> None:  # a prune removed it between resolve and remove
        shutil.rmtree(path)
        real_remove(path)

    monkeypatch.setattr(store, "remove_record", racing)
    assert main(["remove", name, "--root", str(root)]) == 1
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("crashd remove:")]
    assert "Traceback" not in err and ours == [f"crashd remove: {name}: already removed (by retention or another "
                                               "'crashd remove')"], err
