"""The crash summary on real oops logs: the VM oops test's module (tests/vm/oopsmod) oopsing at
site A on two boots and at site B on a third, on each guest architecture (tests/data/logs,
``<arch>-<release>-oops-{a1,a2,b}.dmesg.txt``: the records' dmesg.txt, trimmed to the kernel's
first line and the oops), and a hung task in the same module on amd64 (``-hung-h``)."""

from __future__ import annotations

import pytest

from crashd.crashlog.summary import CrashSummary, summarize
from tests.conftest import DATA

LOGS = DATA / "logs"
# arch -> (kernel release, the kernel's first oops line)
RUNS = {
    "amd64": ("6.1.0-57-amd64", "BUG: kernel NULL pointer dereference, address: 0000000000000000"),
    "arm64": ("6.1.0-57-arm64", "Unable to handle kernel NULL pointer dereference at virtual address"),
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
    caller = "crashd_oops_write" if site == "a" else "crashd_oops_via_b"
    if arch == "arm64":
        # Each site is a leaf function: it saves no frame record, so arm64's frame-pointer unwinder
        # goes from it to its caller's caller. The caller is in the link register the oops printed.
        assert caller not in names, s.call_trace
        text = (LOGS / f"{arch}-{release}-oops-{run}.dmesg.txt").read_text()
        assert f"lr : {caller}+0x" in text
    else:
        assert caller in names, s.call_trace
    assert "vfs_write" in names and "ksys_write" in names, s.call_trace


@pytest.mark.parametrize("arch", sorted(RUNS))
def test_real_oops_same_site_same_signature_other_site_other(arch: str) -> None:
    a1, a2, b = (_summary(arch, run) for run in ("a1", "a2", "b"))
    assert a1.timestamp != a2.timestamp  # two crashes, two boots
    assert a1.signature == a2.signature
    assert b.signature != a1.signature


def test_real_hung_task_is_the_blocked_tasks_stack_not_khungtaskds() -> None:
    """kernel.hung_task_panic: the panic is raised by khungtaskd (its own trace: watchdog, kthread);
    the crash is the blocked task's, whose stack the kernel printed first."""
    h = summarize((LOGS / "amd64-6.1.0-57-amd64-hung-h.dmesg.txt").read_text())
    assert h.kind == "hung_task"
    assert h.trigger is not None and h.trigger.startswith("INFO: task crashd-vmtest:")
    names = _names(h)
    assert names[:4] == ["__schedule", "schedule", "crashd_oops_hang", "crashd_oops_write"], h.call_trace
    assert "watchdog" not in names and "kthread" not in names, h.call_trace
    a = _summary("amd64", "a1")
    assert h.signature and h.signature != a.signature
    text = (LOGS / "amd64-6.1.0-57-amd64-hung-h.dmesg.txt").read_text()
    again = summarize(text.replace("crashd-vmtest:352", "bash:77"))
    assert again.signature == h.signature  # another task hung at the same place: the same group
    # The scheduler's frames are how every sleeper sleeps, not where it hung: sleeping through
    # schedule_timeout() at the same place is the same group.
    timeout = summarize(text.replace(" schedule+0x5a/0xd0", " schedule_timeout+0x88/0x150"))
    assert timeout.signature == h.signature
