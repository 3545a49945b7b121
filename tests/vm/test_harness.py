"""The VM lab itself, without crashd: arm by hand with ``kexec -s -p``, crash, and see the
capture kernel boot and read /proc/vmcore. When this fails, the crashd scenarios cannot pass and
the fault is in the lab (image, QEMU, kernel), not in crashd."""

from __future__ import annotations

import pytest

from tests.vm.lab import Lab, Run, kdump_cmdline
from tests.vm.timeline import kdump_cycle

pytestmark = pytest.mark.vm


def test_plain_kexec_capture_kernel_boots_and_reads_vmcore(lab: Lab) -> None:
    append = "root=/dev/vda rw console=ttyS0 irqpoll nr_cpus=1 reset_devices panic=5"
    img = lab.scenario("harness-kexec", {"SCENARIO": "kexec", "KEXEC_APPEND": append, "MAX_BOOTS": "2"})
    run = Run(lab, "harness-kexec", img, lab.guest("harness-kexec", img, kdump_cmdline("256M")).start())
    with run.guest:
        run.expect(r"^VMTEST: kexec loaded=1", 300)
        panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120)
        run.expect(r"Linux version \S+", 90, after=panic + 1)
        run.expect(r"^VMTEST: capture kernel: Kernel panic - not syncing: sysrq triggered crash", 300)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    assert "sysrq triggered crash" in outcome.text("vmcore-dmesg.txt")
    cycle = kdump_cycle(run.guest.lines)
    assert cycle is not None
    lab.figures.append(f"harness (plain kexec, 256M): {cycle.describe()}")
    lab.discard("harness-kexec")
