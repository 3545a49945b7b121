"""When crashd colours its output: a real terminal (a pseudo-terminal here), NO_COLOR, SYSTEMD_COLORS, TERM."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from crashd.cli.colour import Colour, decide, dmesg_line_level


@pytest.fixture
def tty() -> Iterator[int]:
    master, slave = os.openpty()
    yield slave
    os.close(master)
    os.close(slave)


@pytest.fixture
def pipe() -> Iterator[int]:
    r, w = os.pipe()
    yield w
    os.close(r)
    os.close(w)


TERM = {"TERM": "xterm-256color"}


def test_terminal_gets_colour_a_pipe_does_not(tty: int, pipe: int) -> None:
    assert decide(TERM, tty).enabled
    assert not decide(TERM, pipe).enabled


@pytest.mark.parametrize("value", ["1", "", "0", "whatever"])
def test_no_color_any_value_disables(tty: int, value: str) -> None:
    assert not decide({**TERM, "NO_COLOR": value}, tty).enabled


def test_dumb_or_no_term_disables(tty: int) -> None:
    assert not decide({"TERM": "dumb"}, tty).enabled
    assert not decide({}, tty).enabled


@pytest.mark.parametrize(("value", "enabled", "depth"), [
    ("0", False, 0), ("false", False, 0), ("no", False, 0),
    ("1", True, 256), ("true", True, 256), ("16", True, 16), ("256", True, 256), ("24bit", True, 256),
])
def test_systemd_colors_decides_even_on_a_pipe(pipe: int, value: str, enabled: bool, depth: int) -> None:
    c = decide({"TERM": "dumb", "SYSTEMD_COLORS": value, "NO_COLOR": "1"}, pipe)
    assert c.enabled is enabled and c.depth == depth


def test_systemd_colors_unparsable_falls_back_to_the_terminal(tty: int, pipe: int) -> None:
    assert decide({**TERM, "SYSTEMD_COLORS": "purple"}, tty).enabled
    assert not decide({**TERM, "SYSTEMD_COLORS": "purple"}, pipe).enabled


def test_palette() -> None:
    on, off = Colour(True), Colour(False)
    assert on.red("x") == "\x1b[0;1;31mx\x1b[0m" and on.yellow("x") == "\x1b[0;1;33mx\x1b[0m"
    assert off.red("x") == "x" and off.yellow("x") == "x" and off.bold("x") == "x"
    assert on.state("ok", "ok") == "ok" and on.state("MISSING", "missing") == on.red("MISSING")
    assert on.state("unknown", "unknown") == on.yellow("unknown")


@pytest.mark.parametrize(("level", "colour"), [(0, "red"), (1, "red"), (2, "red"), (3, "red"), (4, "yellow"),
                                                (5, None), (6, None), (7, None)])
def test_dmesg_levels_as_dmesg_color(level: int, colour: str | None) -> None:
    on = Colour(True)
    expected = "boom" if colour is None else getattr(on, colour)("boom")
    assert on.dmesg(level, "boom") == expected


def test_level_of_a_syslog_prefixed_line() -> None:
    assert dmesg_line_level("<3>[    1.000000] oops") == 3
    assert dmesg_line_level("<12>[    1.000000] user warning") == 4  # facility 1, level 4
    assert dmesg_line_level("[    1.000000] no prefix") is None
    assert dmesg_line_level("Panic#1 Part1") is None


def test_pager_secure_mode_under_sudo_by_default() -> None:
    from crashd.cli.pager import pager_argv, pager_env, secure_mode

    assert secure_mode({"SUDO_UID": "1000"}, euid=0) and not secure_mode({"SUDO_UID": "1000"}, euid=1000)
    assert not secure_mode({}, euid=0) and not secure_mode({"SUDO_UID": "1000", "SYSTEMD_PAGERSECURE": "no"}, euid=0)
    assert pager_argv({"PAGER": "most -s", "SUDO_UID": "1000"}, euid=0) == ["less"]
    assert pager_argv({"PAGER": "most -s"}, euid=0) == ["most", "-s"]
    assert pager_env({"SUDO_UID": "1000"}, euid=0)["LESSSECURE"] == "1"
    assert "LESSSECURE" not in pager_env({}, euid=0)
    assert pager_argv({"PAGER": "'unbalanced"}) is None and pager_argv({"PAGER": "/bin/cat"}) is None
