"""Boot a guest image under QEMU and watch its serial console.

One ``Guest`` is one QEMU process. The serial console arrives on QEMU's stdout; a reader
thread timestamps each line with the host's monotonic clock (seconds since QEMU started),
keeps it in memory, and appends it to a log file, so a test can *await* a console line
(``wait_for``) instead of sleeping, and a failure can show the tail of the log.

TCG only by default: vm-lab.md found that /dev/kvm here cannot run a stock kernel.
``CRASHD_VM_ACCEL=kvm`` overrides it for x86 guests on machines where KVM works; the ARM
guests (``qemu-system-arm``/``-aarch64 -M virt``) are always emulated.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.vm.image import GuestImage

TAIL_LINES = int(os.environ.get("CRASHD_VM_TAIL", "60"))


def machine_argv(arch: str) -> list[str]:
    """The QEMU binary and machine per Debian architecture (vm-lab.md, ARM guests).

    armhf: ``highmem=off`` because the armmp kernel without LPAE cannot use memory above 4 GiB
    of the virt machine's map; 1 GiB shows up as 768 MiB of lowmem.
    """
    if arch == "amd64":
        accel = os.environ.get("CRASHD_VM_ACCEL", "tcg")
        return ["qemu-system-x86_64", "-accel", accel, "-cpu", "max" if accel == "tcg" else "host", "-M", "pc"]
    if arch == "armhf":
        return ["qemu-system-arm", "-accel", "tcg", "-M", "virt,highmem=off", "-cpu", "cortex-a15"]
    if arch == "arm64":
        return ["qemu-system-aarch64", "-accel", "tcg", "-M", "virt", "-cpu", "cortex-a57"]
    raise ValueError(f"no QEMU machine for {arch}")


def disk_argv(arch: str, disk: Path) -> list[str]:
    """The disk as /dev/vda: virtio-pci on -M pc, virtio-mmio (virtio-blk-device) on -M virt."""
    if arch == "amd64":
        return ["-drive", f"file={disk},format=raw,if=virtio"]
    return ["-drive", f"file={disk},format=raw,if=none,id=d0", "-device", "virtio-blk-device,drive=d0"]


class VmError(AssertionError):
    """A guest did not do what the test waited for; the message ends with the console tail."""


@dataclass(frozen=True)
class Line:
    t: float  # host seconds since QEMU started
    text: str


@dataclass
class Guest:
    image: GuestImage
    cmdline: str
    log_path: Path
    memory_mb: int = 1024
    cpus: int = 2
    no_reboot: bool = False
    extra_args: Sequence[str] = ()
    lines: list[Line] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._start = 0.0
        self._eof = False

    # -- lifecycle -------------------------------------------------------------------------
    def argv(self) -> list[str]:
        return [
            *machine_argv(self.image.arch.name),
            "-m", str(self.memory_mb),
            "-smp", str(self.cpus),
            "-display", "none",
            "-monitor", "none",
            "-serial", "stdio",
            "-nic", "none",
            *disk_argv(self.image.arch.name, self.image.disk),
            "-kernel", str(self.image.kernel),
            "-initrd", str(self.image.initrd),
            "-append", self.cmdline,
            *(["-no-reboot"] if self.no_reboot else []),
            *self.extra_args,
        ]

    def start(self) -> Guest:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as log:
            log.write(f"### qemu: {' '.join(self.argv())}\n")
        self._start = time.monotonic()
        self._proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        buf = b""
        with self.log_path.open("a", errors="replace") as log:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                now = time.monotonic() - self._start
                buf += chunk
                *complete, buf = buf.split(b"\n")
                new = [Line(now, raw.decode(errors="replace").rstrip("\r")) for raw in complete]
                for line in new:
                    log.write(f"{line.t:8.2f} | {line.text}\n")
                log.flush()
                with self._cond:
                    self.lines.extend(new)
                    self._cond.notify_all()
            if buf:
                self.lines.append(Line(time.monotonic() - self._start, buf.decode(errors="replace")))
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def kill(self) -> None:
        """Pull the plug: no flush, no shutdown (the power-cut scenario)."""
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._reader:
            self._reader.join(timeout=10)

    def wait_exit(self, timeout: float) -> int:
        """Wait until QEMU ends (the guest powered off, or panicked under -no-reboot)."""
        assert self._proc is not None
        try:
            rc = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise VmError(f"QEMU still running after {timeout:.0f} s; killed\n{self.tail()}") from None
        if self._reader:
            self._reader.join(timeout=10)
        return rc

    def __enter__(self) -> Guest:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    # -- observation -------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def wait_for(self, pattern: str, timeout: float, *, after: int = 0) -> tuple[int, Line]:
        """Block until a console line at index >= ``after`` matches; returns (index, line)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = after
        with self._cond:
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i].text):
                        return i, self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if self._eof:
                    raise VmError(f"QEMU ended before a console line matched {pattern!r}\n{self.tail()}")
                if left <= 0:
                    raise VmError(f"no console line matched {pattern!r} within {timeout:.0f} s\n{self.tail()}")
                self._cond.wait(left)

    def tail(self, n: int = TAIL_LINES) -> str:
        with self._cond:
            last = self.lines[-n:]
        body = "\n".join(f"{ln.t:8.2f} | {ln.text}" for ln in last)
        return f"--- last {len(last)} console lines ({self.log_path}) ---\n{body}"
