"""crashd on a terminal: the pager and colour, driven through a real pseudo-terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.cli import run_crashd
from tests.integration.test_records_cli import populated
from tests.integration.tty import fake_pager, run_on_tty
from tests.unit.cli.store import several_records
from tests.vmcore_builder import Msg, build_machine, write_elf

ESC = "\x1b["


def test_list_on_a_terminal_goes_through_the_pager(tmp_path: Path) -> None:
    root, names = populated(tmp_path / "r")
    pager = fake_pager(tmp_path / "bin")
    res = run_on_tty(["list"], root, {"PAGER": f"{pager} --flag 'two words'"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "PAGER-START argv=--flag two words LESS=FRSXMK"  # shlex, not a shell
    assert lines[-1] == "PAGER-END"
    assert names[0] in res.stdout and names[1] in res.stdout


def test_systemd_pager_wins_over_pager(tmp_path: Path) -> None:
    root, _ = populated(tmp_path / "r")
    a, b = fake_pager(tmp_path / "a"), fake_pager(tmp_path / "b", "other")
    b.write_text('#!/bin/sh\necho OTHER-PAGER\ncat\n')
    res = run_on_tty(["list"], root, {"PAGER": str(a), "SYSTEMD_PAGER": str(b), "SYSTEMD_LESS": "FRX"})
    assert res.stdout.startswith("OTHER-PAGER\n"), res.stdout


def test_default_pager_is_less_with_systemd_options(tmp_path: Path) -> None:
    root, _ = populated(tmp_path / "r")
    fake_pager(tmp_path / "bin", "less")
    res = run_on_tty(["list"], root, {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"})
    assert res.stdout.startswith("PAGER-START argv= LESS=FRSXMK\n"), res.stdout


@pytest.mark.parametrize("env", [{"SYSTEMD_PAGER": "cat"}, {"SYSTEMD_PAGER": ""}, {"PAGER": "cat"}, {"PAGER": ""}])
def test_cat_or_empty_disables_the_pager(tmp_path: Path, env: dict[str, str]) -> None:
    root, names = populated(tmp_path / "r")
    fake_pager(tmp_path / "bin", "less")
    res = run_on_tty(["list"], root, {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", **env})
    assert "PAGER-START" not in res.stdout and names[0] in res.stdout


def test_no_pager_option(tmp_path: Path) -> None:
    root, names = populated(tmp_path / "r")
    pager = fake_pager(tmp_path / "bin")
    for args in (["list", "--no-pager"], ["--no-pager", "list"]):
        res = run_on_tty(args, root, {"PAGER": str(pager)})
        assert res.returncode == 0 and "PAGER-START" not in res.stdout and names[1] in res.stdout, res


def test_a_missing_pager_falls_back_to_plain_output(tmp_path: Path) -> None:
    root, names = populated(tmp_path / "r")
    res = run_on_tty(["list"], root, {"PAGER": str(tmp_path / "no-such-pager")})
    assert res.returncode == 0, res.stderr
    assert names[0] in res.stdout and "Traceback" not in res.stderr


def test_never_a_pager_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    root, names = populated(tmp_path / "r")
    pager = fake_pager(tmp_path / "bin")
    res = run_crashd(["list"], root, env={"PAGER": str(pager), "TERM": "xterm"})
    assert "PAGER-START" not in res.stdout and names[0] in res.stdout and ESC not in res.stdout


def test_show_and_dmesg_are_paged(tmp_path: Path) -> None:
    root, names = populated(tmp_path / "r")
    pager = fake_pager(tmp_path / "bin")
    for verb in ("show", "dmesg"):
        res = run_on_tty([verb, names[0]], root, {"PAGER": str(pager)})
        assert res.returncode == 0, res.stderr
        assert res.stdout.startswith("PAGER-START") and res.stdout.endswith("PAGER-END\n"), res.stdout
        assert "sysrq" in res.stdout


def test_pager_that_quits_early_is_not_an_error(tmp_path: Path) -> None:
    root, names = populated(tmp_path / "r")
    pager = tmp_path / "head1"
    pager.write_text("#!/bin/sh\nhead -n 1\n")
    pager.chmod(0o755)
    res = run_on_tty(["dmesg", names[0]], root, {"PAGER": str(pager)})
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stdout.splitlines()) == 1


@pytest.fixture
def levelled_dump(tmp_path: Path) -> Path:
    machine, _ = build_machine([Msg(b"booting", 1_000_000, level=6), Msg(b"a warning", 2_000_000, level=4),
                                Msg(b"Kernel panic - not syncing: x", 3_000_000, level=0)])
    p = tmp_path / "vmcore"
    write_elf(p, machine)
    return p


def test_dmesg_colours_levels_on_a_terminal_only(levelled_dump: Path) -> None:
    res = run_on_tty(["dmesg", str(levelled_dump), "--no-pager"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines == ["[    0.001000] booting", f"{ESC}0;1;33m[    0.002000] a warning{ESC}0m",
                     f"{ESC}0;1;31m[    0.003000] Kernel panic - not syncing: x{ESC}0m"]
    for env in ({"NO_COLOR": "1"}, {"TERM": "dumb"}, {"SYSTEMD_COLORS": "0"}):
        res = run_on_tty(["dmesg", str(levelled_dump), "--no-pager"], env=env)
        assert ESC not in res.stdout and "a warning" in res.stdout, env
    assert ESC not in run_crashd(["dmesg", str(levelled_dump)]).stdout
    forced = run_crashd(["dmesg", str(levelled_dump)], env={"SYSTEMD_COLORS": "16"})
    assert f"{ESC}0;1;31m[    0.003000] Kernel panic" in forced.stdout


def test_colour_reaches_the_pager(tmp_path: Path, levelled_dump: Path) -> None:
    pager = fake_pager(tmp_path / "bin")
    res = run_on_tty(["dmesg", str(levelled_dump)], env={"PAGER": str(pager)})
    assert res.stdout.startswith("PAGER-START") and f"{ESC}0;1;31m" in res.stdout, res.stdout


def test_pstore_levels_in_a_saved_log_are_coloured(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "dmesg.txt").write_text("Panic#1 Part1\n<6>[    1.000000] fine\n<3>[    2.000000] bad\n")
    res = run_on_tty(["dmesg", str(rec), "--no-pager"])
    assert res.stdout.splitlines() == ["Panic#1 Part1", "<6>[    1.000000] fine", f"{ESC}0;1;31m<3>[    2.000000] bad{ESC}0m"]
    assert run_crashd(["dmesg", str(rec)]).stdout == "Panic#1 Part1\n<6>[    1.000000] fine\n<3>[    2.000000] bad\n"


def test_list_fits_the_terminal_cutting_only_the_panic_column(tmp_path: Path) -> None:
    root, names = several_records(tmp_path / "r")
    wide = run_on_tty(["list", "--no-pager"], root, {"NO_COLOR": "1"}, columns=400)
    assert "Kernel panic - not syncing: sysrq triggered crash" in wide.stdout
    longest = max(len(line) for line in wide.stdout.splitlines())
    res = run_on_tty(["list", "--no-pager"], root, {"NO_COLOR": "1"}, columns=longest - 20)
    lines = res.stdout.splitlines()
    assert len(lines) == 6 and all(len(line) <= longest - 20 for line in lines), lines
    assert all(any(n in line for line in lines) for n in names)  # no id is ever cut
    assert "…" in res.stdout and "Kernel panic - not syncing: sysrq triggered crash" not in res.stdout
    piped = run_crashd(["list"], root, env={"COLUMNS": "60"})  # not a terminal: nothing is cut
    assert "Kernel panic - not syncing: sysrq triggered crash" in piped.stdout


def test_incomplete_records_are_red_on_a_terminal(tmp_path: Path) -> None:
    root, names = several_records(tmp_path / "r")
    res = run_on_tty(["list", "--no-pager"], root)
    line = next(line for line in res.stdout.splitlines() if names[2] in line)  # complete: false
    assert f"{ESC}0;1;31mno" in line
    assert ESC not in next(line for line in res.stdout.splitlines() if names[1] in line)


def test_inspect_prints_the_crash_time_in_the_one_style(levelled_dump: Path) -> None:
    res = run_crashd(["inspect", str(levelled_dump)], env={"TZ": "UTC"})
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("crash time:"))
    assert re.fullmatch(r"crash time: +Wed 2024-07-03 09:46:40 UTC \(\d+ years? .*ago\), 1720000000", line), line


def test_secure_mode_runs_only_less_with_lesssecure(tmp_path: Path) -> None:
    root, _ = populated(tmp_path / "r")
    other = fake_pager(tmp_path / "bin")
    less = tmp_path / "bin" / "less"
    less.write_text('#!/bin/sh\necho "LESS-START LESSSECURE=$LESSSECURE"\ncat\n')
    less.chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "PAGER": str(other), "SYSTEMD_PAGERSECURE": "1"}
    assert run_on_tty(["list"], root, env).stdout.startswith("LESS-START LESSSECURE=1\n")
    assert run_on_tty(["list"], root, {**env, "SYSTEMD_PAGERSECURE": "0"}).stdout.startswith("PAGER-START")
