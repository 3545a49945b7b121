"""units/crashd.service and units/crashd.catalog say what the code does."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from crashd.core.journal import MESSAGE_IDS

UNITS = Path(__file__).resolve().parents[3] / "units"


def _unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string((UNITS / "crashd.service").read_text())
    return cp


def test_catalog_explains_every_message_id() -> None:
    text = (UNITS / "crashd.catalog").read_text()
    entries = dict(re.findall(r"^-- ([0-9a-f]{32})\n(.*?)(?=^-- |\Z)", text, re.S | re.M))
    assert set(entries) == set(MESSAGE_IDS.values())
    for body in entries.values():
        assert re.search(r"^Subject: .+", body, re.M)
        assert len(body.split("\n\n", 1)[1].split()) >= 30  # a real explanation, not a stub


def test_service_is_notify_reloadable_and_skips_the_capture_kernel() -> None:
    unit = _unit()
    assert unit["Service"]["Type"] == "notify"
    assert unit["Service"]["ExecStart"].endswith("crashd daemon")
    assert "kill -HUP $MAINPID" in unit["Service"]["ExecReload"]
    assert unit["Unit"]["ConditionKernelCommandLine"] == "!crashd.boot_id"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert unit["Install"]["Also"] == "crashd-ingest.service"
    caps = unit["Service"]["CapabilityBoundingSet"].split()
    assert "CAP_SYS_BOOT" in caps and "CAP_DAC_OVERRIDE" not in caps and "CAP_NET_ADMIN" not in caps
    text = (UNITS / "crashd.service").read_text()
    for cap in caps:  # every capability says why it is there
        assert re.search(rf"^# {cap}: ", text, re.M), cap
    # [panic] writes /proc/sys: the unit must not make it read-only
    assert unit["Service"].get("ProtectKernelTunables", "no") == "no"
    # ProtectKernelLogs= would silently drop CAP_SYSLOG, which kexec_load needs for /proc/kallsyms
    assert "CAP_SYSLOG" in caps and unit["Service"].get("ProtectKernelLogs", "no") == "no"
    assert "kexec_file_load" in unit["Service"]["SystemCallFilter"]


def test_every_ordering_line_has_a_comment() -> None:
    lines = (UNITS / "crashd.service").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"(After|Before|Requires|Wants|Conflicts)=", line):
            assert lines[i - 1].startswith("#"), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    text = (UNITS / "crashd.service").read_text().replace("/usr/bin/crashd", "/bin/true")
    text = re.sub(r"^Documentation=.*$", "", text, flags=re.M)  # man page not installed here
    (tmp_path / "crashd.service").write_text(text)
    (tmp_path / "crashd-ingest.service").write_text("[Service]\nType=oneshot\nExecStart=/bin/true\n")
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "crashd.service")],
                          capture_output=True, text=True, check=False)
    problems = [ln for ln in proc.stderr.splitlines() if "crashd.service" in ln]
    assert problems == [], proc.stderr
