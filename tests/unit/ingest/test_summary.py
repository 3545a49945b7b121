"""The crash summariser on real logs (tests/data) and on synthetic ones per pattern."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from crashd.crashlog.summary import KINDS, TRIGGERS, classify, normalize_frame, parse_lines, summarize

DESIGN_KEYS = {"kind", "message", "cpu", "pid", "comm", "pc", "pc_symbol", "taint", "call_trace"}


def test_reference_vmcore_dmesg_is_a_sysrq_panic(ref_vmcores: Path) -> None:
    s = summarize((ref_vmcores / "x86_64-6.1-sysrq.vmcore-dmesg.txt").read_text())
    assert s.kind == "sysrq"
    assert s.message == "Kernel panic - not syncing: sysrq triggered crash"
    assert (s.cpu, s.pid, s.comm, s.taint) == (0, 1, "init", "")
    assert s.release == "6.1.0-56-amd64"
    assert s.call_trace[:2] == ["dump_stack_lvl+0x44/0x5c", "panic+0x118/0x2f4"]
    assert "? _printk+0x68/0x83" in s.call_trace
    assert s.call_trace[-1] == "entry_SYSCALL_64_after_hwframe+0x6e/0xd8"
    assert s.pc is None  # only the user-mode RIP (0033) is printed
    assert set(s.to_dict()) == DESIGN_KEYS


def test_pstore_oops_record(ref_pstore: Path) -> None:
    s = summarize((ref_pstore / "oops-then-panic" / "dmesg-ramoops-0").read_text())
    assert s.kind == "oops"
    assert s.message == "BUG: kernel NULL pointer dereference, address: 0000000000000000"
    assert (s.cpu, s.pid, s.comm, s.taint) == (0, 142, "sh", "GOE")
    assert s.pc == "fx_do_null_dereference+0x11/0x24 [fxcrash]"
    assert s.pc_symbol == "fx_do_null_dereference+0x11/0x24 [fxcrash]"
    assert s.call_trace[0] == "fx_write+0x127/0x12e [fxcrash]"
    assert s.timestamp == pytest.approx(3.798480)


def test_pstore_panic_after_oops_is_the_sysrq(ref_pstore: Path) -> None:
    s = summarize((ref_pstore / "oops-then-panic" / "dmesg-ramoops-1").read_text())
    assert s.kind == "sysrq"
    assert s.message == "Kernel panic - not syncing: sysrq triggered crash"
    # The panic after an oops prints no stack (TAINT_DIE): nothing is invented.
    assert s.cpu is None and s.call_trace == []


def test_same_place_same_signature_across_sources(ref_vmcores: Path, ref_pstore: Path) -> None:
    vm = summarize((ref_vmcores / "x86_64-6.1-sysrq.vmcore-dmesg.txt").read_text())
    ps = summarize((ref_pstore / "panic-small-records" / "dmesg-ramoops-0").read_text())
    oops = summarize((ref_pstore / "oops-then-panic" / "dmesg-ramoops-0").read_text())
    # Different '?' frames and timestamps, same crash site.
    assert vm.signature == ps.signature
    assert vm.signature != oops.signature


def log(*lines: str) -> str:
    return "".join(f"<4>[  {100 + i}.000000] {line}\n" for i, line in enumerate(lines))


TRACE = ["Call Trace:", " <TASK>", " my_func+0x10/0x20 [mymod]", " ? junk+0x1/0x2", " caller+0x5/0x9", " </TASK>"]
CPU = "CPU: 3 PID: 99 Comm: worker Tainted: G        W          6.8.0 #1"


@pytest.mark.parametrize(
    ("first", "kind"),
    [
        ("kernel BUG at mm/slub.c:123!", "bug"),
        ("BUG: KASAN: use-after-free in foo+0x1/0x2", "bug"),
        ("BUG: scheduling while atomic: swapper/0/0/0x00000002", "bug"),
        ("WARNING: CPU: 3 PID: 99 at fs/foo.c:10 foo+0x1/0x2", "warning"),
        ("watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [worker:99]", "lockup"),
        ("Watchdog detected hard LOCKUP on cpu 3", "lockup"),
        ("INFO: task worker:99 blocked for more than 120 seconds.", "hung_task"),
        ("mce: [Hardware Error]: CPU 3: Machine Check Exception: 5 Bank 4: b200000000070005", "mce"),
        ("Oops: general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP", "oops"),
        ("general protection fault: 0000 [#1] SMP", "oops"),
        ("Unable to handle kernel paging request at virtual address dead000000000108", "oops"),
        ("BUG: unable to handle page fault for address: ffff888000000000", "oops"),
    ],
)
def test_synthetic_trigger_kinds(first: str, kind: str) -> None:
    s = summarize(log(first, CPU, "RIP: 0010:my_func+0x10/0x20 [mymod]", *TRACE))
    assert s.kind == kind
    assert s.message == first
    assert (s.cpu, s.pid, s.comm, s.taint) == (3, 99, "worker", "GW")
    assert s.pc_symbol == "my_func+0x10/0x20 [mymod]"
    assert s.call_trace == ["my_func+0x10/0x20 [mymod]", "? junk+0x1/0x2", "caller+0x5/0x9"]


def test_oops_then_fatal_exception_panic_keeps_the_root_cause() -> None:
    text = log(
        "BUG: kernel NULL pointer dereference, address: 0000000000000008",
        "Oops: 0000 [#1] SMP",
        CPU,
        *TRACE,
        "Kernel panic - not syncing: Fatal exception",
    )
    s = summarize(text)
    assert s.kind == "oops"
    assert s.trigger == "BUG: kernel NULL pointer dereference, address: 0000000000000008"
    assert s.message == "Kernel panic - not syncing: Fatal exception"
    assert s.pid == 99


def test_hard_lockup_panic_uses_the_lockup_not_an_earlier_warning() -> None:
    text = log(
        "WARNING: CPU: 0 PID: 1 at a.c:1 a+0x1/0x2",
        "Watchdog detected hard LOCKUP on cpu 3",
        CPU,
        "Kernel panic - not syncing: Hard LOCKUP",
    )
    s = summarize(text)
    assert (s.kind, s.trigger) == ("lockup", "Watchdog detected hard LOCKUP on cpu 3")


def test_plain_panic_and_nothing() -> None:
    s = summarize(
        "[    1.0] VFS: Cannot open root device\n[    1.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\n"
    )
    assert s.kind == "panic"
    assert s.message is not None and s.message.endswith("unknown-block(0,0)")
    empty = summarize("[    0.0] Linux version 6.1.0 (x) #1\n[    1.0] all quiet\n")
    assert (empty.kind, empty.message, empty.cpu, empty.call_trace) == ("unknown", None, None, [])
    assert empty.release == "6.1.0"


def test_only_the_last_boot_counts() -> None:
    text = log("Linux version 6.0 (a) #1", "kernel BUG at a.c:1!", "Linux version 6.1 (b) #1", "quiet")
    assert summarize(text).kind == "unknown"


def test_signature_ignores_offsets_build_ids_clones_and_unreliable_frames() -> None:
    a = summarize(
        log(
            "kernel BUG at x.c:1!",
            CPU,
            "RIP: 0010:f+0x10/0x20 [m]",
            "Call Trace:",
            " g.isra.0+0x1/0x9 [m 0123456789abcdef]",
            " ? noise+0x1/0x2",
            " h+0x3/0x4",
            " </TASK>",
        )
    )
    b = summarize(
        log(
            "kernel BUG at x.c:1!",
            CPU,
            "RIP: 0010:f+0x99/0x120 [m]",
            "Call Trace:",
            " g+0x7/0x19 [m]",
            " h+0x9/0x40",
            " </TASK>",
        )
    )
    c = summarize(
        log(
            "kernel BUG at x.c:1!",
            CPU,
            "RIP: 0010:f+0x10/0x20 [m]",
            "Call Trace:",
            " other+0x1/0x9 [m]",
            " h+0x3/0x4",
            " </TASK>",
        )
    )
    d = summarize(
        log(
            "WARNING: CPU: 3 PID: 99 at x.c:1 f+0x1/0x2",
            CPU,
            "RIP: 0010:f+0x10/0x20 [m]",
            "Call Trace:",
            " g+0x1/0x9 [m]",
            " h+0x3/0x4",
            " </TASK>",
        )
    )
    assert a.signature == b.signature
    assert a.signature != c.signature
    assert a.signature != d.signature  # the kind is part of it


def test_arm64_pc_and_trace() -> None:
    text = log(
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000",
        "Internal error: Oops: 96000005 [#1] PREEMPT SMP",
        "CPU: 1 PID: 7 Comm: sh Not tainted 6.1.0-arm64 #1",
        "pc : sysrq_handle_crash+0x24/0x30",
        "lr : __handle_sysrq+0x90/0x1c0",
        "Call trace:",
        " sysrq_handle_crash+0x24/0x30",
        " __handle_sysrq+0x90/0x1c0",
        "Code: d2800001 (39000020)",
    )
    s = summarize(text)
    assert (s.kind, s.cpu, s.pid, s.taint) == ("oops", 1, 7, "")
    assert s.pc_symbol == "sysrq_handle_crash+0x24/0x30"
    assert s.call_trace == ["sysrq_handle_crash+0x24/0x30", "__handle_sysrq+0x90/0x1c0"]


@dataclass
class Cpu:
    cpu: int
    pid: int
    pc: int


def test_cpus_fill_what_the_log_lacks_and_conflicts_are_reported() -> None:
    s = summarize(log("Kernel panic - not syncing: Fatal machine check"), cpus=[Cpu(0, 5, 0xFFFFFFFF81000010)])
    assert (s.kind, s.cpu, s.pid, s.pc) == ("mce", 0, 5, "0xffffffff81000010")
    t = summarize(log("kernel BUG at a.c:1!", CPU), cpus=[Cpu(2, 1, 1), Cpu(3, 42, 2)])
    assert t.pid == 99 and t.warnings


def test_prefix_forms_and_helpers() -> None:
    lines = parse_lines("<6>[    1.437540] a\n[    2.5] b\nplain\n[    3.000000] [  T123] c\n")
    assert [(ln.timestamp, ln.text) for ln in lines] == [(1.43754, "a"), (2.5, "b"), (None, "plain"), (3.0, "c")]
    assert classify("nothing") is None
    assert normalize_frame("? x+0x1/0x2") is None
    assert normalize_frame("fx_write.cold+0x12/0x2e [fxcrash abc123]") == "fx_write [fxcrash]"
    assert len(TRIGGERS) >= 8


def test_end_marker_is_not_the_panic_line() -> None:
    s = summarize(
        log(
            "sysrq: Trigger a crash",
            "Kernel panic - not syncing: sysrq triggered crash",
            CPU,
            "Kernel Offset: 0x2fa00000 from 0xffffffff81000000",
            "---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
        )
    )
    assert s.message == "Kernel panic - not syncing: sysrq triggered crash"
    assert s.timestamp == 101.0


def test_any_text_gives_a_summary_without_raising() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pieces = st.sampled_from(
        [
            "Kernel panic - not syncing: x",
            "CPU: 1 PID: 2 Comm: a Not tainted 6.1 #1",
            "Call Trace:",
            " f+0x1/0x2",
            "RIP: 0010:g+0x1/0x2",
            "</TASK>",
            "BUG: ",
            "Linux version ",
            "<4>[  1.0] ",
            "\n",
            "\x00",
            "é",
            "[",
        ]
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(pieces, st.text(max_size=20)), max_size=40))
    def check(parts: list[str]) -> None:
        s = summarize("".join(parts))
        assert s.kind in KINDS
        assert s.signature is not None and len(s.signature) == 16
        assert set(s.to_dict()) == DESIGN_KEYS

    check()
