"""crashd(8) and crashd.conf(5): generated parts equal what ships, so the pages never drift."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from crashd.cli import VERBS
from crashd.cli.manpage import conf_page, update_crashd8
from crashd.core.settings import SETTINGS

REPO = Path(__file__).resolve().parents[2]
CRASHD8 = REPO / "packaging/debian/crashd.8"
CONF5 = REPO / "packaging/debian/crashd.conf.5"


def test_shipped_crashd_conf_5_is_the_generated_one() -> None:
    assert CONF5.read_text() == conf_page(), f"regenerate: python3 -m crashd.cli.manpage conf > {CONF5}"


def test_shipped_crashd_8_options_are_the_generated_ones() -> None:
    text = CRASHD8.read_text()
    assert text == update_crashd8(text), f"regenerate: python3 -m crashd.cli.manpage crashd8 {CRASHD8}"


def test_crashd_conf_5_documents_every_setting() -> None:
    page = conf_page()
    for s in SETTINGS:
        assert f".SS [{s.section}]" in page
        assert re.search(rf"^\\fB{re.escape(s.key)}=\\fR", page, re.M), s.key


def test_crashd_8_has_every_section_and_every_verb() -> None:
    page = CRASHD8.read_text()
    for section in ("SYNOPSIS", "VERBS", "OPTIONS", "EXAMPLES", "ENVIRONMENT", "EXIT STATUS", "FILES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in page, section
    options = page.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0]
    for verb in VERBS:
        assert f"\n.SS crashd {verb}\n" in options, verb
    for env in ("SYSTEMD_PAGER", "PAGER", "SYSTEMD_PAGERSECURE", "SYSTEMD_LESS", "NO_COLOR", "SYSTEMD_COLORS", "CRASHD_ROOT", "COLUMNS"):
        assert f"\n.B {env}\n" in page.split("\n.SH ENVIRONMENT\n", 1)[1], env
    assert "crashd.conf (5)" in page or ".BR crashd.conf (5)" in page


def test_a_new_option_changes_the_generated_page() -> None:
    text = CRASHD8.read_text()
    assert "\\-\\-no\\-legend" in text and "\\-\\-since" in text
    broken = text.replace("\\-\\-no\\-legend", "\\-\\-no\\-legendary", 1)
    assert update_crashd8(broken) != broken


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
@pytest.mark.parametrize("page", [CRASHD8, CONF5])
def test_pages_render_without_warnings(page: Path) -> None:
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0 and out.stderr == "", out.stderr
