"""The crash summary on real oops logs: the VM oops test's module (tests/vm/oopsmod) oopsing at
site A on two boots and at site B on a third, on each guest architecture (tests/data/logs,
``<arch>-<release>-oops-{a1,a2,b}.dmesg.txt``: the records' dmesg.txt, trimmed to the kernel's
first line and the oops)."""

from __future__ import annotations

import pytest

from crashd.crashlog.summary import CrashSummary, summarize
from tests.conftest import DATA

LOGS = DATA / "logs"
# arch -> (kernel release, the kernel's first oops line)
RUNS = {
    "amd64": ("6.1.0-57-amd64", "BUG: kernel NULL pointer dereference, address: 0000000000000000"),
}


def _summary(arch: str, run: str) -> CrashSummary:
    release, _ = RUNS[arch]
    return summarize((LOGS / f"{arch}-{release}-oops-{run}.dmesg.txt").read_text())


def _names(s: CrashSummary) -> list[str]:
    return [f.removeprefix("? ").split("+", 1)[0].split(" ", 1)[0].split(".", 1)[0] for f in s.call_trace]


@pytest.mark.parametrize("arch", sorted(RUNS))
@pytest.mark.parametrize(("run", "site"), [("a1", "a"), ("a2", "a"), ("b", "b")])
def test_real_module_oops_is_an_oops_at_its_site(arch: str, run: str, site: str) -> None:
    s = _summary(arch, run)
    release, first = RUNS[arch]
    assert s.kind == "oops"
    assert s.trigger is not None and s.trigger.startswith(first.split(",")[0])
    assert s.release == release
    assert s.comm == "crashd-vmtest" and s.taint is not None and "O" in s.taint  # out-of-tree module
    assert s.pc_symbol is not None and s.pc_symbol.startswith(f"crashd_oops_site_{site}+0x")
    assert s.pc_symbol.endswith(" [crashd_oops]")
    names = _names(s)
    assert ("crashd_oops_write" if site == "a" else "crashd_oops_via_b") in names, s.call_trace
    assert "vfs_write" in names and "ksys_write" in names, s.call_trace


@pytest.mark.parametrize("arch", sorted(RUNS))
def test_real_oops_same_site_same_signature_other_site_other(arch: str) -> None:
    a1, a2, b = (_summary(arch, run) for run in ("a1", "a2", "b"))
    assert a1.timestamp != a2.timestamp  # two crashes, two boots
    assert a1.signature == a2.signature
    assert b.signature != a1.signature
