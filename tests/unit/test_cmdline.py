"""One kernel command-line tokenizer for arming, readiness and the capture."""

from crashd.arm.readiness import cmdline_param
from crashd.capture.save import crashed_boot_id
from crashd.core.cmdline import param

BOOT = "0123456789abcdef0123456789abcdef"


def test_param_reads_quoted_values_and_stops_at_init_arguments() -> None:
    line = f'root=/dev/vda dyndbg="file a.c +p" "crashkernel=256M" -- crashkernel=1G crashd.boot_id={BOOT}'
    assert param(line, "dyndbg") == "file a.c +p"
    assert param(line, "crashkernel") == "256M"  # the init argument after -- is not the kernel's
    assert param(line, "crashd.boot_id") is None
    assert param("quiet", "quiet") == ""


def test_every_stage_reads_the_same_values() -> None:
    line = f'a="x crashd.boot_id=ffffffffffffffffffffffffffffffff" crashd.boot_id={BOOT} crashkernel=128M'
    # a boot id inside another parameter's quoted value is not the boot id
    assert crashed_boot_id(line) == BOOT
    assert crashed_boot_id('a="x crashd.boot_id=' + BOOT + '"') is None
    assert cmdline_param(line, "crashkernel") == param(line, "crashkernel") == "128M"
