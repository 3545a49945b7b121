"""Scenario d, the peer: the same crash with Debian's kdump-tools instead of crashd, in the same
base image (crashd not installed), for the downtime comparison. Only with CRASHD_VM_COMPARE=1: it
costs a second base image and a ~2.5 min cycle, and proves nothing about crashd itself."""

from __future__ import annotations

import os

import pytest

from tests.vm.image import BASE_PACKAGES, build_base, build_image
from tests.vm.lab import Lab, Run, kdump_cmdline
from tests.vm.timeline import kdump_cycle

pytestmark = [
    pytest.mark.vm,
    pytest.mark.skipif(os.environ.get("CRASHD_VM_COMPARE") != "1", reason="set CRASHD_VM_COMPARE=1 to compare with kdump-tools"),
]


def test_kdump_tools_cycle_for_comparison(lab: Lab) -> None:
    base = build_base(BASE_PACKAGES, late=("kdump-tools",))
    peer = build_image(lab.root / "image-kdump-tools", None, base=base)
    name = "compare-kdump-tools"
    img = lab.scenario(name, {"SCENARIO": "compare", "MAX_BOOTS": "2"}, image=peer)
    run = Run(lab, name, img, lab.guest(name, img, kdump_cmdline("256M")).start())
    with run.guest:
        run.expect(r"^VMTEST: armed", 420)
        panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120)
        capture = run.expect(r"Linux version \S+", 90, after=panic + 1)
        run.expect(r"^VMTEST: boot 2 ", 600, after=capture)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    assert "dump." in outcome.text("spool.txt"), outcome.text("spool.txt")
    cycle = kdump_cycle(run.guest.lines)
    assert cycle is not None
    lab.figures.append(f"{name} (crashkernel=256M): {cycle.describe()}")
    lab.discard(name)
