"""``crashd list`` filters and the record selection every verb shares (show, remove, dmesg)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crashd.cli import main
from crashd.cli.select import resolve
from crashd.core.errors import NotFoundError
from crashd.core.paths import HostPaths
from tests.unit.cli.store import SIG_A, several_records


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return several_records(tmp_path_factory.mktemp("store"))


def listed(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """The record names ``crashd list ARGS`` shows, in its order."""
    root, _ = store
    assert main(["list", "--root", str(root), "--json", *args]) == 0
    return [r["name"] for r in json.loads(capsys.readouterr().out)["records"]]


def test_plain_list_is_oldest_first_with_a_legend(store: tuple[Path, list[str]],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    root, names = store
    assert main(["list", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["TIME", "RECORD", "KIND", "KERNEL", "SIGNATURE", "COUNT", "VMCORE", "COMPLETE", "PANIC"]
    assert [next(n for n in names if n in line) for line in lines[1:]] == names
    assert main(["list", "--root", str(root), "--no-legend"]) == 0
    out = capsys.readouterr()
    assert len(out.out.splitlines()) == 5 and "TIME" not in out.out


def test_count_column_groups_repeats(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    root, names = store
    assert main(["list", "--root", str(root), "--no-legend"]) == 0
    counts = {}
    for line in capsys.readouterr().out.splitlines():
        words = line.split()
        name = next(w for w in words if w in names)
        counts[name] = words[words.index(name) + 4]  # RECORD KIND KERNEL SIGNATURE COUNT
    assert counts == {names[0]: "3", names[1]: "3", names[2]: "1", names[3]: "-", names[4]: "3"}
    assert main(["list", "--root", str(root), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["records"]
    assert [r["repeats"] for r in rows] == [3, 3, 1, None, 3]


def test_kind_kernel_signature(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    _, n = store
    assert listed(store, capsys, "--kind", "kdump") == [n[0], n[2], n[4]]  # kdump+pstore has a dump too
    assert listed(store, capsys, "--kind", "pstore") == [n[1], n[2]]
    assert listed(store, capsys, "--kind", "unclean-reset") == [n[3]]
    assert listed(store, capsys, "--kernel", "6.5.0-1-amd64") == [n[2], n[3]]
    assert listed(store, capsys, "--kernel", "6.5*") == [n[2], n[3]]
    assert listed(store, capsys, "--kernel", "6.5") == []  # not a prefix: a release or a glob
    assert listed(store, capsys, "--signature", SIG_A[:6]) == [n[0], n[1], n[4]]
    assert listed(store, capsys, "--kind", "kdump", "--kernel", "6.1.0-56-amd64") == [n[0], n[4]]


def test_since_until(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    _, n = store
    assert listed(store, capsys, "--since", "-2h") == [n[4]]
    assert listed(store, capsys, "--since", "2 days ago") == [n[2], n[3], n[4]]
    assert listed(store, capsys, "--until", "-25h") == [n[0], n[1], n[2]]
    assert listed(store, capsys, "--since", "-60h", "--until", "-25h") == [n[1], n[2]]
    assert listed(store, capsys, "--since", "now") == []
    first = json.loads((HostPaths(store[0]).crash_store / n[1] / "metadata.json").read_text())["crash_time"]
    assert listed(store, capsys, "--since", first, "--until", first) == [n[1]]  # ISO, inclusive


def test_count_and_reverse(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    _, n = store
    assert listed(store, capsys, "-n", "2") == [n[3], n[4]]  # the newest two, as journalctl -n
    assert listed(store, capsys, "-r") == n[::-1]
    assert listed(store, capsys, "-n", "2", "--reverse") == [n[4], n[3]]
    assert listed(store, capsys, "-n", "0") == []


def test_bad_filter_values_are_usage_errors(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = store
    assert main(["list", "--root", str(root), "--since", "soon"]) == 2
    assert "not a time: 'soon'" in capsys.readouterr().err
    assert main(["list", "--root", str(root), "-n", "-3"]) == 2


def test_json_short_is_one_line_per_record(store: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    root, n = store
    assert main(["list", "--root", str(root), "--json=short", "--kind", "kdump"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["name"] for line in lines] == [n[0], n[2], n[4]]
    assert all(json.loads(line)["version"] == 1 for line in lines)
    assert main(["show", "--root", str(root), "--json=short", n[0]]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out)["record"] == n[0]
    assert main(["show", "--root", str(root), "--json", n[0]]) == 0  # a bare --json: as before, indented
    out = capsys.readouterr().out
    assert out.startswith("{\n  ") and json.loads(out)["record"] == n[0]


# ------------------------------------------------------------------ selection


@pytest.mark.parametrize(("spec", "index"), [
    ("last", 4), ("-1", 4), ("-2", 3), ("-5", 0), ("bbbb2222", 1), ("bbbb", 1), ("dddd4444", 3),
])
def test_resolve(store: tuple[Path, list[str]], spec: str, index: int) -> None:
    root, names = store
    assert resolve(HostPaths(root), spec).name == names[index]


def test_resolve_by_name_and_prefix(store: tuple[Path, list[str]]) -> None:
    root, names = store
    paths = HostPaths(root)
    assert resolve(paths, names[2]).name == names[2]
    assert resolve(paths, names[2] + "/").name == names[2]
    assert resolve(paths, names[2][:20]).name == names[2]


@pytest.mark.parametrize(("spec", "message"), [
    ("aaaa", "ambiguous"), ("-6", "only 5 records"), ("ffff9999", "no crash record matches"), ("", "no crash record"),
    ("-0", "no crash record"),
])
def test_resolve_errors(store: tuple[Path, list[str]], spec: str, message: str) -> None:
    with pytest.raises(NotFoundError, match=message) as info:
        resolve(HostPaths(store[0]), spec)
    if spec == "aaaa":
        assert store[1][0] in str(info.value) and store[1][4] in str(info.value)


def test_show_remove_dmesg_share_the_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, names = several_records(tmp_path)
    assert main(["show", "--root", str(root), "-2"]) == 0
    assert f"Record: {names[3]}" in capsys.readouterr().out
    assert main(["dmesg", "--root", str(root), "last"]) == 0
    assert "sysrq: Trigger a crash" in capsys.readouterr().out
    assert main(["show", "--root", str(root), "aaaa"]) == 1
    err = capsys.readouterr().err
    assert "ambiguous" in err and names[0] in err and names[4] in err
    assert main(["remove", "--root", str(root), "last"]) == 0
    assert capsys.readouterr().out == f"removed {names[4]}\n"
    assert not (HostPaths(root).crash_store / names[4]).exists()


def test_every_json_option_takes_short_and_pretty() -> None:
    """``main`` turns a bare --json into --json=pretty: a verb with a store_true --json would break."""
    import argparse

    from crashd.cli import VERBS, _parser
    from crashd.cli.output import JSON_MODES

    with_json = []
    for verb in VERBS:
        parser = _parser(verb)
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[verb]
        for action in sub._actions:
            if "--json" in action.option_strings:
                assert tuple(action.choices or ()) == JSON_MODES, f"{verb}: use crashd.cli.output.add_json_option"
                with_json.append(verb)
    assert {"status", "estimate", "test", "list", "show", "inspect", "config"} <= set(with_json)
