"""The crash summary on 32-bit ARM and arm64 kernel logs: the real sysrq logs from the VM tests
(tests/data/logs) and hand-written oops logs in the 6.1 formats (fixtures/README.md)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from crashd.crashlog.summary import normalize_frame, summarize
from crashd.vmcore import open_dump
from tests.conftest import DATA
from tests.vmcore_builder import add_kallsyms, build_arm32_machine, elf32_bytes, kdump_bytes, prstatus_arm

LOGS = DATA / "logs"
FIXTURES = Path(__file__).parent / "fixtures"
ARMHF_SYSRQ = "armhf-6.1.0-57-armmp-sysrq.dmesg.txt"
ARM64_SYSRQ = "arm64-6.1.0-57-arm64-sysrq.dmesg.txt"


def _log(name: str) -> str:
    base = LOGS if (LOGS / name).is_file() else FIXTURES
    return (base / name).read_text()


def _another_boot(text: str, shift: float = 17.25) -> str:
    """The same crash on another boot: other timestamps, PID and module load address."""
    text = re.sub(r"\[\s*(\d+\.\d+)\]", lambda m: f"[{float(m[1]) + shift:12.6f}]", text)
    return text.replace("PID: 230", "PID: 4242").replace("PID: 312", "PID: 999").replace("bf0a0014", "bf1c0014")


def test_real_armhf_sysrq_panic() -> None:
    s = summarize(_log(ARMHF_SYSRQ))
    assert s.kind == "sysrq"
    assert s.message == "Kernel panic - not syncing: sysrq triggered crash"
    assert (s.cpu, s.pid, s.comm, s.taint, s.release) == (1, 230, "crashd-vmtest", "", "6.1.0-57-armmp")
    # 32-bit ARM frames ("X from Y+0x18/0x1c"): the innermost function, then each caller
    assert s.call_trace == ["unwind_backtrace", "show_stack+0x18/0x1c", "dump_stack_lvl+0x40/0x4c",
                            "panic+0x110/0x370", "sysrq_reset_seq_param_set+0x0/0x90"]
    assert s.pc is None and s.pc_symbol is None  # a panic prints no registers


def test_real_arm64_sysrq_panic() -> None:
    s = summarize(_log(ARM64_SYSRQ))
    assert s.kind == "sysrq"
    assert (s.cpu, s.pid, s.comm, s.taint, s.release) == (1, 260, "crashd-vmtest", "", "6.1.0-57-arm64")
    assert s.call_trace[:2] == ["dump_backtrace+0xe4/0x140", "show_stack+0x20/0x30"]
    assert s.call_trace[5:7] == ["sysrq_reset_seq_param_set+0x0/0xa0", "__handle_sysrq+0x90/0x19c"]
    assert s.call_trace[-1] == "el0t_64_sync+0x18c/0x190" and len(s.call_trace) == 18


@pytest.mark.parametrize("name", ["armhf-6.1-oops.txt", "armhf-6.1-oops-verbose.txt"])
def test_armhf_oops(name: str) -> None:
    s = summarize(_log(name))
    assert s.kind == "oops"
    assert s.trigger == "Unable to handle kernel NULL pointer dereference at virtual address 00000000 when write"
    assert s.message == "Kernel panic - not syncing: Fatal exception"
    assert (s.cpu, s.pid, s.comm, s.taint) == (0, 312, "sh", "GOE")
    assert s.pc == s.pc_symbol == "crash_write+0x14/0x20 [crashmod]"
    # The Stack: dump before the frames and the Exception stack dump among them are not frames.
    assert s.call_trace == ["crash_write [crashmod]", "full_proxy_write+0x5c/0x7c", "vfs_write+0xc8/0x3a0",
                            "ksys_write+0x74/0xf8", "ret_fast_syscall+0x0/0x1c"]


def test_arm64_oops() -> None:
    s = summarize(_log("arm64-6.1-oops.txt"))
    assert s.kind == "oops"
    assert s.trigger == "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000"
    assert s.message == "Kernel panic - not syncing: Oops: Fatal exception"
    assert (s.cpu, s.pid, s.comm, s.taint) == (0, 301, "sh", "GOE")
    assert s.pc == s.pc_symbol == "crash_write+0x14/0x30 [crashmod]"
    assert s.call_trace[0] == "crash_write+0x14/0x30 [crashmod]" and len(s.call_trace) == 11


@pytest.mark.parametrize("trigger", [
    "Unable to handle kernel paging request at virtual address ffff8000deadbeef",
    "Internal error: Oops: 0000000096000004 [#1] SMP",
    "Internal error: Oops - BUG: 00000000f2000800 [#1] SMP",
    "Internal error: Oops - undefined instruction: 0 [#1] SMP ARM",
])
def test_arm_oops_triggers(trigger: str) -> None:
    assert summarize(f"[    5.000000] {trigger}\n").kind == "oops"


def test_user_mode_pc_lines_are_not_the_crash_pc() -> None:
    log = ("[    1.0] Internal error: Oops: 0 [#1] SMP ARM\n[    1.1] PC is at 0xb6f0c5a0\n"
           "[    1.2] pc : [<b6f0c5a0>]    lr : [<b6e1d5e6>]    psr: 60000010\n")
    assert summarize(log).pc is None
    assert summarize("[    1.0] Internal error: Oops: 0 [#1] SMP\n[    1.1] pc : 0000ffff8a1b2c3d\n").pc is None


def test_bare_arm_frames_normalise_like_x86_ones() -> None:
    assert normalize_frame("crash_write.constprop.0 [crashmod]") == "crash_write [crashmod]"
    assert normalize_frame("crash_write+0x14/0x20 [crashmod 1234abcd]") == "crash_write [crashmod]"
    assert normalize_frame("unwind_backtrace") == "unwind_backtrace"


@pytest.mark.parametrize("name", [ARMHF_SYSRQ, ARM64_SYSRQ, "armhf-6.1-oops.txt", "arm64-6.1-oops.txt"])
def test_same_place_same_signature(name: str) -> None:
    text = _log(name)
    assert summarize(text).signature == summarize(_another_boot(text)).signature


def test_different_sites_different_signatures() -> None:
    sigs = {n: summarize(_log(n)).signature for n in
            (ARMHF_SYSRQ, ARM64_SYSRQ, "armhf-6.1-oops.txt", "arm64-6.1-oops.txt")}
    assert len(set(sigs.values())) == 4
    # Another function of the same module crashing: another signature, though the callers agree.
    text = _log("armhf-6.1-oops.txt").replace("crash_write", "crash_read")
    assert summarize(text).signature != sigs["armhf-6.1-oops.txt"]
    # The verbose unwinder format of the same crash is the same crash.
    assert summarize(_log("armhf-6.1-oops-verbose.txt")).signature == sigs["armhf-6.1-oops.txt"]


def test_machinery_frames_do_not_make_every_arm_sysrq_alike() -> None:
    """Two sysrq panics reached through different callers differ: the unwinder and panic frames
    every ARM panic shows are left out of the signature."""
    text = _log(ARMHF_SYSRQ)
    other = text.replace("panic from sysrq_reset_seq_param_set+0x0/0x90", "panic from my_driver_fn+0x10/0x40")
    assert summarize(text).signature != summarize(other).signature


@pytest.mark.parametrize("container", ["elf", "kdump"])
def test_arm32_pc_is_named_from_the_dumps_kallsyms(tmp_path: Path, container: str) -> None:
    """The panic prints no registers on ARM; the crashing CPU's PRSTATUS pc is named from the
    32-bit kallsyms in the dump, as ingest does (the list outlives the open dump)."""
    m, _ = build_arm32_machine(["Kernel panic - not syncing: sysrq triggered crash"])
    m = replace(add_kallsyms(m), prstatus=[prstatus_arm(0, 0xC0204567, 0xC1A01F00),
                                           prstatus_arm(230, 0xC0101234, 0xC2B03E00)])
    path = tmp_path / "vmcore"
    path.write_bytes(elf32_bytes(m) if container == "elf" else kdump_bytes(m))
    with open_dump(path) as d:
        cpus = d.cpus
    assert [c.pc_symbol for c in cpus] == ["sysrq_handle_crash+0x27/0x40", "__crash_kexec+0x34/0x100"]
    log = _log(ARMHF_SYSRQ)
    s = summarize(log, cpus)
    assert (s.cpu, s.pid, s.pc, s.pc_symbol) == (1, 230, "0xc0101234", "__crash_kexec+0x34/0x100")
    assert s.warnings == []
    # The registers only add facts: the signature is the log's, as from pstore.
    assert s.signature == summarize(log).signature


def test_arm_frames_without_kallsyms_are_addresses() -> None:
    log = ("[    1.0] Internal error: Oops: 805 [#1] ARM\n[    1.1] Backtrace: \n"
           "[    1.2] Function entered at [<c0101234>] from [<c0204568>]\n"
           "[    1.3] Function entered at [<c0204540>] from [<c0100060>]\n[    1.4] Code: e5832000\n")
    assert summarize(log).call_trace == ["c0101234", "c0204568", "c0100060"]
