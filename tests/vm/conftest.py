"""Fixtures for the VM tests: one .deb and one session image per pytest session.

Needs root (chroot, device nodes in the guest tree), mmdebstrap, QEMU and e2fsprogs; the
tests are skipped with the reason when any is missing. Work files (images, console logs,
results read back from the guest) go to ``$CRASHD_VM_WORK/pytest-<pid>`` (default ``tests/vm/.work``);
the base image is cached in ``$CRASHD_VM_CACHE`` (default ``/var/cache/crashd-vm``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vm.lab import Lab, build_deb, work_dir

_LABS: list[Lab] = []


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "VM tests need root (chroot into the guest tree, device nodes)"
    for tool in ("mmdebstrap", "qemu-system-x86_64", "mkfs.ext4", "debugfs", "dpkg-buildpackage"):
        if shutil.which(tool) is None:
            return f"VM tests need {tool} (tests/run installs it)"
    return None


def _session_dir() -> Path:
    """``<work>/pytest-<pid>``: concurrent sessions (and the demo, the probe) never share files.

    Directories of sessions whose process is gone are removed (their disk images are large).
    """
    work = work_dir()
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("pytest-*"):
        pid = old.name.removeprefix("pytest-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)
    root = work / f"pytest-{os.getpid()}"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    root = _session_dir()
    lab = Lab(root)
    deb = build_deb(root / "deb")
    lab.prepare(deb, eager=False)  # each image (x86_64, armhf, arm64) when a test first needs it
    _LABS.append(lab)
    yield lab


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for lab in _LABS:
        terminalreporter.section("crashd VM figures")
        for what, seconds in lab.timings.items():
            terminalreporter.write_line(f"{what}: {seconds:.0f} s")
        for line in lab.figures:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"console logs and results: {lab.root}")
