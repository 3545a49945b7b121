"""Scenario a on the embedded platforms: 32-bit ARM (armhf: zImage, the running device tree,
kexec_load) and arm64 (Debian's kernel, no CONFIG_KEXEC_FILE and no ``_text`` in kallsyms, so
kexec_load through crashd.arm.kallsyms_shim). The same crashd .deb (Architecture: all) installed
with apt, crashd enabled with nothing else configured, sysrq-c, capture, reboot: one complete
kdump record with the panic line. On arm64 the dump itself is checked: crashd's reader and
kexec-tools' vmcore-dmesg give byte-identical logs of the same ELF file, and arm64's ``crash``
(run on the host under qemu-user, tests/vm/foreign.py) reads its release.

Guests: ``qemu-system-arm -M virt,highmem=off -cpu cortex-a15`` and ``qemu-system-aarch64 -M virt
-cpu cortex-a57``, 1 GiB, TCG; base images built by mmdebstrap under qemu-user (binfmt_misc).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from crashd.arm.kallsyms_shim import SEGMENT_ALIGN
from crashd.capture.memstat import MemoryWatch
from crashd.vmcore.elf import ElfVmcore
from crashd.vmcore.memory import Source
from crashd.vmcore.vmcoreinfo import VmcoreInfo
from tests.vm.foreign import foreign_tree, run_foreign
from tests.vm.lab import Lab, Run, crash_and_capture, start_kdump
from tests.vm.test_kdump import _assert_one_complete_kdump_record, _capture_kernel_ran_out_of_memory
from tests.vm.timeline import find, kdump_cycle

pytestmark = pytest.mark.vm

# Debian architecture -> (QEMU system emulator, binfmt_misc entry for building the base)
EMULATORS = {"armhf": ("qemu-system-arm", "qemu-arm"), "arm64": ("qemu-system-aarch64", "qemu-aarch64")}

# An ELF dump on arm64, so that kexec-tools' vmcore-dmesg (which reads ELF only) can check
# crashd's reader on the very file the record holds.
ELF_DUMP = "[capture]\ncollector = copy\n"


def _need(arch: str) -> None:
    if arch == "amd64":  # the host's own architecture (conftest checks qemu-system-x86_64)
        return
    qemu, binfmt = EMULATORS[arch]
    if shutil.which(qemu) is None:
        pytest.skip(f"{arch} VM tests need {qemu} (tests/run installs qemu-system-arm)")
    if not Path("/proc/sys/fs/binfmt_misc", binfmt).exists():
        pytest.skip(f"{arch} base image needs binfmt_misc with {binfmt} enabled (tests/run does it: "
                    "qemu-user-static, binfmt-support)")


def _arm_kdump(lab: Lab, arch: str, crashkernel: str, files: dict[str, str] | None = None, *,
               may_be_too_small: bool = False) -> tuple[str, Path]:
    """Run the cycle; returns the record's name and the scenario's directory.

    ``may_be_too_small``: a capture kernel that runs out of memory before userspace is an
    expected failure (xfail, with the kernel's own memory line), as in test_kdump's 96M case."""
    _need(arch)
    name = f"kdump-{arch}-{crashkernel}" + ("-cmdline" if files and "/etc/crashd.conf.d/50-cmdline.conf" in files else "")
    run = start_kdump(lab, name, crashkernel, files, arch=arch)
    with run.guest:
        capture = crash_and_capture(run)
        run.expect(r"^VMTEST: boot 2 ", 600, after=capture)
        outcome = run.finish()
    assert outcome.result == "ok", outcome.explain()
    # (an out-of-memory capture leaves no kdump record; the next boot makes an unclean-reset one)
    if may_be_too_small and not any("kdump" in (r["kind"] or "") for r in outcome.records()):
        why = _capture_kernel_ran_out_of_memory(run, capture)
        if why is not None:
            lab.figures.append(f"{name} (crashkernel={crashkernel}): does not complete: {why}")
            lab.discard(name)
            pytest.xfail(f"crashkernel={crashkernel} is too small for {arch}: {why}")
    record = _assert_one_complete_kdump_record(outcome, run.img.release)
    cycle = kdump_cycle(run.guest.lines)
    assert cycle is not None and cycle.capture_seconds is not None
    lab.figures.append(f"{name} (crashkernel={crashkernel}): {cycle.describe()}")
    lab.figures.append(f"{name}: {capture_memory(run, capture, outcome.out / 'crash' / record / 'capture.json')}")
    return record, lab.root / name


def capture_memory(run: Run, capture: int, capture_json: Path) -> str:
    """What the capture kernel had and what the save used: its ``Memory:`` line, and the
    ``memory`` crashd save measured there (capture.json)."""
    end = find(run.guest.lines, r"Linux version \S+", capture + 1) or len(run.guest.lines)
    mem = find(run.guest.lines, r"\] Memory: \d+K/\d+K available", capture, end)
    kernel = run.guest.lines[mem].text.split("] ", 1)[-1] if mem is not None else "no Memory: line"
    info = json.loads(capture_json.read_text()).get("memory")
    saved = MemoryWatch.describe(info) if info else "capture.json has no memory figures"
    return f"capture kernel {kernel}; crashd save {saved}"


def _matching_words(a: bytes, b: bytes) -> float:
    words = range(0, min(len(a), len(b)) - 3, 4)
    return sum(a[i:i + 4] == b[i:i + 4] for i in words) / max(len(words), 1)


def _assert_text_rule_holds_in(vmcore: Path, image: Path) -> str:
    """The dump and the kernel image prove ``_text = _stext - 64 KiB``.

    The arm64 Image file starts at ``_text`` (its header: magic ``ARM\\x64`` at 0x38). The crashed
    kernel's memory at the physical address of ``_stext`` (``SYMBOL(_stext)`` and
    ``kimage_voffset`` from its VMCOREINFO) holds the file's bytes from offset 64 KiB on (but for
    the instructions the kernel patches at boot), and from no other 64 KiB step. And kexec-tools'
    kernel-text PT_LOAD, built from the derived ``_text``, maps it to the matching physical address.
    """
    core = ElfVmcore(Source(vmcore))
    info = VmcoreInfo(next(n.desc for n in core.notes if n.name == b"VMCOREINFO"))
    stext = int(info["SYMBOL(_stext)"], 16)
    pa_stext = stext - int(info["NUMBER(kimage_voffset)"], 16)
    data = image.read_bytes()
    assert data[0x38:0x3C] == b"ARM\x64", f"{image} is not an arm64 Image"
    memory = core.read_phys(pa_stext, SEGMENT_ALIGN)
    match = {off: _matching_words(memory, data[off:off + SEGMENT_ALIGN]) for off in range(0, 4 * SEGMENT_ALIGN, SEGMENT_ALIGN)}
    assert max(match, key=lambda off: match[off]) == SEGMENT_ALIGN and match[SEGMENT_ALIGN] > 0.9, match
    text_loads = [ld for ld in core.loads if ld.vaddr == stext - SEGMENT_ALIGN]
    assert [ld.paddr for ld in text_loads] == [pa_stext - SEGMENT_ALIGN], [(hex(ld.vaddr), hex(ld.paddr)) for ld in core.loads]
    return (f"_stext at image offset {SEGMENT_ALIGN:#x} ({match[SEGMENT_ALIGN]:.0%} of its words as in memory), "
            f"kernel-text PT_LOAD {stext - SEGMENT_ALIGN:#x} -> {pa_stext - SEGMENT_ALIGN:#x}")


def test_armhf_crash_is_captured_and_ingested(lab: Lab) -> None:
    """The zImage is loaded with --dtb=/sys/firmware/fdt and --image-size (vm-lab.md)."""
    _arm_kdump(lab, "armhf", "256M")
    lab.discard("kdump-armhf-256M")


def test_arm64_crash_is_captured_and_the_dump_is_correct(lab: Lab) -> None:
    """Debian's arm64 kernel lists no _text: crashd must arm anyway, and the dump must be right."""
    record, d = _arm_kdump(lab, "arm64", "256M", {"/etc/crashd.conf.d/50-elf.conf": ELF_DUMP})
    out = d / "out" / "crashd-vmtest" / "out"
    status = (out / "status-armed.json").read_text()
    assert "kallsyms_text_derived" in status, status
    ours = (out / f"crashd-dmesg-{record}.txt").read_text(errors="replace")
    theirs = (out / f"vmcore-dmesg-{record}.txt").read_text(errors="replace")
    assert "Kernel panic - not syncing: sysrq triggered crash" in theirs, (out / f"vmcore-dmesg-{record}.err").read_text()
    assert ours == theirs, (out / f"crashd-dmesg-{record}.err").read_text()
    vmcore = d / "out" / "crash" / record / "vmcore"
    lab.figures.append(f"arm64 dump: {_assert_text_rule_holds_in(vmcore, lab.image_for('arm64').kernel)}")
    # crash, the peer's reader, opens the same dump: arm64's crash 8.0.2 under qemu-user
    crash = run_foreign("arm64", foreign_tree("arm64", ("crash",)), "/usr/bin/crash", "--osrelease", str(vmcore))
    assert crash.returncode == 0 and crash.stdout.strip() == lab.image_for("arm64").release, (crash.stdout, crash.stderr)
    lab.figures.append(f"arm64 dump: crash --osrelease (arm64 crash under qemu-user): {crash.stdout.strip()}")
    lab.discard("kdump-arm64-256M")


# Smaller reservations, measured on demand (each cycle costs minutes under TCG):
# CRASHD_VM_ARM_RESERVATIONS=armhf:128M,armhf:96M,arm64:128M
# Measured with the base's 4.9 MB (armhf) / 5.8 MB (arm64) initrd and crashd's default capture
# command line: armhf 128M and 96M complete (16 MiB CMA still reserved in the capture kernel);
# arm64 96M completes but 128M does not: there the capture kernel reserves its default 64 MiB
# of CMA (at 96M it cannot, so it reserves none) and runs out of memory before userspace.
SMALL = [spec for spec in os.environ.get("CRASHD_VM_ARM_RESERVATIONS", "").split(",") if spec]


# A third field measures another capture command line at that size: ARCH:SIZE:WORD+WORD sets
# [arm] cmdline_append to exactly those words (e.g. armhf:80M:nr_cpus=1+reset_devices+irqpoll+
# udev.children-max=2+panic=10+cma=0, crashd's default less cgroup_disable=memory and
# transparent_hugepage=never, to compare what the save measured with and without them).
@pytest.mark.skipif(not SMALL, reason="set CRASHD_VM_ARM_RESERVATIONS=armhf:128M,... to measure smaller reservations")
@pytest.mark.parametrize("spec", SMALL or ["-"])
def test_arm_smaller_reservation_completes_or_the_kernel_is_short_of_memory(lab: Lab, spec: str) -> None:
    arch, size, *variant = spec.split(":", 2)
    files = {"/etc/crashd.conf.d/50-cmdline.conf": f"[arm]\ncmdline_append = {variant[0].replace('+', ' ')}\n"} if variant else None
    _, d = _arm_kdump(lab, arch, size, files, may_be_too_small=True)
    lab.discard(d.name)
