"""/etc/default/grub.d/crashd.cfg as grub-mkconfig sources it: a crashkernel= range per architecture,
nothing when something else already reserves, the administrator's CRASHD_CRASHKERNEL wins."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

SNIPPET = Path(__file__).resolve().parents[2] / "packaging/debian/grub.d/crashd.cfg"


def source(machine: str, before: str = 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"') -> str:
    script = f'uname() {{ echo {machine}; }}; {before}; . "{SNIPPET}"; printf "%s" "$GRUB_CMDLINE_LINUX_DEFAULT"'
    return subprocess.run(["sh", "-euc", script], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("machine", ["x86_64", "aarch64", "armv7l", "riscv64"])
def test_each_architecture_gets_a_range_that_covers_a_nominal_1g_machine(machine: str) -> None:
    line = source(machine)
    m = re.fullmatch(r"quiet crashkernel=((?:\d+[MG]-(?:\d+[MG])?:\d+M,?)+)", line)
    assert m, line
    first_low = m.group(1).split("-", 1)[0]
    assert first_low.endswith("M") and int(first_low[:-1]) < 1024  # a "1 GiB" guest has a little less RAM


def test_an_existing_reservation_or_an_explicit_choice_wins() -> None:
    assert source("x86_64", 'GRUB_CMDLINE_LINUX="crashkernel=384M-:128M"; GRUB_CMDLINE_LINUX_DEFAULT="quiet"') == "quiet"
    assert source("x86_64", 'CRASHD_CRASHKERNEL=160M; GRUB_CMDLINE_LINUX_DEFAULT=""') == " crashkernel=160M"
