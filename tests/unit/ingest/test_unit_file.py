"""units/crashd-ingest.service: ordering against systemd-pstore, conditions, verified by systemd."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[3] / "units" / "crashd-ingest.service"


def unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp


def values(key: str) -> list[str]:
    return [
        m for line in UNIT.read_text().splitlines() if line.startswith(key + "=") for m in line.split("=", 1)[1].split()
    ]


def test_notify_early_and_before_systemd_pstore() -> None:
    u = unit()
    # READY=1 after the pstore read: systemd-pstore and sysinit.target wait for that only
    assert u["Service"]["Type"] == "notify" and u["Service"]["NotifyAccess"] == "main"
    assert u["Service"]["RemainAfterExit"] == "yes"
    assert u["Service"]["ExecStart"].endswith("crashd ingest")
    assert u["Unit"]["ConditionKernelCommandLine"] == "!crashd.boot_id"
    assert u["Unit"]["DefaultDependencies"] == "no"  # else After=sysinit.target would cycle with systemd-pstore
    assert "systemd-pstore.service" in values("Before")
    assert "local-fs.target" in values("After")
    assert u["Install"]["WantedBy"] == "multi-user.target"
    assert u["Service"]["StateDirectoryMode"] == "0700"


def test_every_ordering_line_has_a_comment() -> None:
    lines = UNIT.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"(After|Before|Requires|RequiresMountsFor|Wants|Conflicts)=", line):
            assert lines[i - 1].startswith("#"), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    text = UNIT.read_text().replace("/usr/bin/crashd", "/bin/true")
    text = re.sub(r"^Documentation=.*$", "", text, flags=re.M)  # man page not installed here
    (tmp_path / UNIT.name).write_text(text)
    proc = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / UNIT.name)], capture_output=True, text=True, check=False
    )
    assert [ln for ln in proc.stderr.splitlines() if UNIT.name in ln] == [], proc.stderr


def test_the_unit_may_write_every_directory_target_ingest_accepts() -> None:
    """ReadWritePaths=/RequiresMountsFor= cannot follow the config: directory targets are held to them."""
    from crashd.ingest.sources import UNIT_SPOOL_ROOT, target_allowed

    assert f"-{UNIT_SPOOL_ROOT}" in values("ReadWritePaths")
    assert UNIT_SPOOL_ROOT in values("RequiresMountsFor")
    assert target_allowed("/var/crash") and target_allowed("/var/crash/crashd") and target_allowed("UUID=ab-cd")
    for bad in ("/srv/crash", "/var/crashes", "/var/crash/../lib", "var/crash", "/var/crash\0x"):
        assert not target_allowed(bad), bad
