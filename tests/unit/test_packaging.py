"""The packages ship what the checkout has: every unit, the catalog and the config, at one version.

The real build (dpkg-buildpackage + lintian) runs in the VM tests; this catches a unit added to
units/ but forgotten in a package, or a version bumped in one place only, in the fast suite.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import crashd

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted([*(str(p.relative_to(REPO)) for p in (REPO / "units").iterdir()), "etc/crashd.conf"])


def test_debian_install_list_ships_every_unit_and_the_config() -> None:
    listed = sorted(line.split()[0] for line in (REPO / "packaging/debian/crashd.install").read_text().splitlines()
                    if line.strip())
    assert listed == SHIPPED


def test_rpm_spec_installs_every_unit_and_the_config() -> None:
    spec = (REPO / "packaging/rpm/crashd.spec").read_text()
    installed = sorted(set(re.findall(r"^install .* ((?:units|etc)/\S+) ", spec, re.M)))
    assert installed == SHIPPED


def test_versions_agree() -> None:
    changelog = (REPO / "packaging/debian/changelog").read_text().splitlines()[0]
    assert re.match(rf"crashd \({re.escape(crashd.__version__)}(-\S+)?\) ", changelog), changelog
    spec = (REPO / "packaging/rpm/crashd.spec").read_text()
    assert re.search(rf"^Version:\s+{re.escape(crashd.__version__)}$", spec, re.M)


@pytest.mark.skipif(shutil.which("rpmspec") is None, reason="rpmspec not installed (tests/run installs rpm)")
def test_rpm_spec_parses() -> None:
    out = subprocess.run(["rpmspec", "-q", "--srpm", str(REPO / "packaging/rpm/crashd.spec")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(f"crashd-{crashd.__version__}-")
