"""The capture kernel's command line, and loading/unloading it with ``kexec -p``.

Everything here is argv: the command line becomes one ``--append=`` element and
paths are separate elements, run through the :class:`~crashd.core.tools.ToolRunner`
seam, never a shell. After a load we do not trust kexec's exit status alone:
``/sys/kernel/kexec_crash_loaded`` must read 1.

On arm64 kernels whose /proc/kallsyms lacks ``_text`` (Debian 12's), a kexec_load runs
through :mod:`crashd.arm.kallsyms_shim`, which shows that one kexec process a copy with
the line added.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crashd.arm.kallsyms_shim import with_text
from crashd.core.cmdline import param_key, split_cmdline
from crashd.core.errors import CrashdError, ToolError
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolResult, ToolRunner

if TYPE_CHECKING:
    from crashd.arm.bootfiles import BootFiles
    from crashd.core.settings import Config

__all__ = [
    "ALWAYS_REMOVE",
    "ArmError",
    "CAPTURE_UNIT",
    "KALLSYMS_SHIM",
    "KEXEC_TIMEOUT",
    "Kexec",
    "LoadPlan",
    "ZIMAGE_DEFAULT_SIZE",
    "capture_cmdline",
    "crash_loaded",
    "crash_size",
    "is_arm32",
    "kallsyms_copy",
    "kallsyms_lacks_text",
    "load_argv",
    "make_plan",
    "plan_for",
    "read_boot_id",
    "unload_argv",
]

CAPTURE_UNIT = "crashd-capture.target"
# Always dropped from the inherited line: the boot loader's image name means
# nothing to the capture kernel, and the last two are ours to set.
# systemd.wants= and crashd.net= come from the arm-time network plan (crashd.core.capnet) only.
ALWAYS_REMOVE = ("BOOT_IMAGE", "systemd.unit", "systemd.wants", "crashd.boot_id", "crashd.test_id", "crashd.net")
# kexec-tools underestimates the room a 32-bit ARM zImage needs to decompress
# itself; without --image-size the capture kernel hangs silently (docs/vm-lab.md).
ZIMAGE_DEFAULT_SIZE = 48 << 20
KEXEC_TIMEOUT = 120.0  # `kexec -s -p` took up to 3 s under TCG; leave lots of room
# The private-kallsyms wrapper, run with the interpreter crashd runs under; -I: no
# PYTHON* variables, no user site, no current directory on sys.path.
KALLSYMS_SHIM = (sys.executable or "/usr/bin/python3", "-I", "-m", "crashd.arm.kallsyms_shim")


class ArmError(CrashdError):
    """Loading the capture kernel failed; ``cause`` is stable for "log once"."""

    def __init__(self, message: str, stderr: str = "", argv: list[str] | None = None):
        super().__init__(message)
        self.stderr = stderr
        self.argv = argv or []

    @property
    def cause(self) -> str:
        return str(self)


# --- command line ---------------------------------------------------------

def read_boot_id(paths: HostPaths) -> str:
    """32 lowercase hex digits of the running boot's id (``crashd.boot_id=``)."""
    try:
        raw = paths.boot_id.read_text().strip()
    except OSError as exc:
        raise ArmError(f"cannot read {paths.unhost(paths.boot_id)}: {exc.strerror or exc}") from exc
    hexid = raw.replace("-", "").lower()
    if not re.fullmatch(r"[0-9a-f]{32}", hexid):
        raise ArmError(f"{paths.unhost(paths.boot_id)}: not a boot id: {raw!r}")
    return hexid


def capture_cmdline(
    running: str, remove: Iterable[str], append: Iterable[str], boot_id: str, test_id: str | None = None,
    network: Iterable[str] = (),
) -> str:
    """The capture kernel's command line, built from the running one.

    Inherited parameters named in ``remove`` (bare ``key`` or ``key=…``) go, as do
    any earlier ``BOOT_IMAGE=``, ``systemd.unit=``, ``crashd.boot_id=``; ``append``
    follows, and an appended key replaces every inherited one of the same name;
    ``systemd.unit=crashd-capture.target crashd.boot_id=…`` always end the kernel
    part, followed by ``crashd.test_id=`` for a ``crashd test --crash`` and by ``network``,
    a remote target's ``systemd.wants=… crashd.net=…`` (crashd.core.capnet). Anything
    after a bare ``--`` belongs to init and stays after it.
    """
    tokens = split_cmdline(running)
    init_part: list[str] = []
    if "--" in tokens:
        cut = tokens.index("--")
        tokens, init_part = tokens[:cut], tokens[cut:]
    appended = list(append)
    drop = set(remove) | set(ALWAYS_REMOVE) | {param_key(t) for t in appended}
    kept = [t for t in tokens if param_key(t) not in drop]
    ours = [t for t in appended if param_key(t) not in ALWAYS_REMOVE]
    final = kept + ours + [f"systemd.unit={CAPTURE_UNIT}", f"crashd.boot_id={boot_id}"]
    final += [f"crashd.test_id={test_id}"] if test_id else []
    final += list(network)
    final += init_part
    return " ".join(final)


# --- load plan and argv ---------------------------------------------------

def is_arm32(arch: str) -> bool:
    """``armv7l``, ``armv6l``, ``armv8l`` (32-bit userland on ARMv8), ``arm``."""
    return arch.startswith("arm") and arch != "arm64"


@dataclass(frozen=True)
class LoadPlan:
    """Everything one ``kexec -p`` needs; equal plans mean "nothing to re-arm"."""

    kernel: Path
    initrd: Path | None
    dtb: Path | None
    cmdline: str
    file_load: bool
    image_size: int | None = None  # bytes; 32-bit ARM zImage only
    # arm64 kexec_load on a kallsyms without _text: kexec sees a copy that lists it
    kallsyms_text: bool = False


def make_plan(
    *,
    kernel: Path,
    initrd: Path | None,
    dtb: Path | None,
    kernel_kind: str,
    cmdline: str,
    file_load: bool,
    arch: str,
    image_size: int = 0,
    kallsyms_lacks_text: bool = False,
) -> LoadPlan:
    """Decide the architecture-specific parts: a device tree and ``--image-size``
    only on 32-bit ARM (arm64 and x86 take the firmware's/kernel's own); on arm64, a
    private kallsyms for kexec_load when the kernel's lacks a derivable ``_text``
    (kexec_file_load does not read kallsyms)."""
    arm32 = is_arm32(arch)
    size = None
    if arm32 and kernel_kind == "zImage":
        size = image_size or ZIMAGE_DEFAULT_SIZE
    text = arch == "aarch64" and not file_load and kallsyms_lacks_text
    return LoadPlan(kernel, initrd, dtb if arm32 else None, cmdline, file_load, size, text)


def load_argv(plan: LoadPlan) -> list[str]:
    """``kexec -p [-s] --initrd=… --append=… [--dtb=…] [--image-size=…] KERNEL``.

    ``-s`` selects kexec_file_load (the kernel verifies the image; required under
    lockdown / Secure Boot). The ``=`` forms keep a value that starts with ``-``
    from being read as an option.
    """
    argv = ["kexec", "-p"]
    if plan.file_load:
        argv.append("-s")
    if plan.initrd is not None:
        argv.append(f"--initrd={plan.initrd}")
    argv.append(f"--append={plan.cmdline}")
    if plan.dtb is not None:
        argv.append(f"--dtb={plan.dtb}")
    if plan.image_size is not None:
        argv.append(f"--image-size={plan.image_size:#x}")
    argv.append(str(plan.kernel))
    return argv


def unload_argv(file_load: bool) -> list[str]:
    """Under lockdown the kexec_load syscall is refused even for unloading, so a
    file-loaded image is unloaded with ``-s`` too (openSUSE/kdump#29)."""
    return ["kexec", "-p", "-s", "-u"] if file_load else ["kexec", "-p", "-u"]


# --- running kexec --------------------------------------------------------

def crash_loaded(paths: HostPaths) -> bool | None:
    """``/sys/kernel/kexec_crash_loaded`` as a bool; None when unreadable."""
    try:
        return paths.kexec_crash_loaded.read_text().strip() == "1"
    except OSError:
        return None


def crash_size(paths: HostPaths) -> int | None:
    """Bytes reserved for the capture kernel (``/sys/kernel/kexec_crash_size``)."""
    try:
        return int(paths.kexec_crash_size.read_text().strip())
    except (OSError, ValueError):
        return None


def kallsyms_lacks_text(paths: HostPaths) -> bool:
    """The running kernel's kallsyms has no ``_text`` but one can be derived from ``_stext``
    (:func:`crashd.arm.kallsyms_shim.text_address`)."""
    try:
        kallsyms = paths.proc("kallsyms").read_text(errors="replace")
    except OSError:
        return False
    return with_text(kallsyms) is not None


def kallsyms_copy(paths: HostPaths) -> Path:
    """Where the copy kexec sees lives while it runs: root's runtime directory, not /tmp."""
    return paths.state_dir / "kallsyms-text"


class Kexec:
    """Loads and unloads the capture kernel through the tool seam."""

    def __init__(self, paths: HostPaths, tools: ToolRunner, timeout: float = KEXEC_TIMEOUT,
                 shim: Sequence[str] = KALLSYMS_SHIM):
        self.paths = paths
        self.tools = tools
        self.timeout = timeout
        self.shim = tuple(shim)

    def _run(self, argv: list[str], what: str) -> ToolResult:
        try:
            result = self.tools.run(argv, timeout=self.timeout)
        except ToolError as exc:
            raise ArmError(f"{what}: {exc}", exc.stderr, argv) from exc
        if not result.ok:
            detail = " ".join(result.stderr.split()) or f"exit status {result.returncode}"
            raise ArmError(f"{what} failed (exit {result.returncode}): {detail}", result.stderr, argv)
        return result

    def _write_kallsyms_copy(self) -> Path:
        """The running kallsyms plus ``_text``, 0600 in a fresh file (never a followed link)."""
        source = self.paths.proc("kallsyms")
        try:
            text = with_text(source.read_text(errors="replace"))
        except OSError as exc:
            raise ArmError(f"cannot read {self.paths.unhost(source)}: {exc.strerror or exc}") from exc
        if text is None:
            raise ArmError(f"{self.paths.unhost(source)}: no _text and none can be derived from _stext")
        copy = kallsyms_copy(self.paths)
        try:
            copy.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            copy.unlink(missing_ok=True)
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        except OSError as exc:
            raise ArmError(f"cannot write {self.paths.unhost(copy)}: {exc.strerror or exc}") from exc
        return copy

    def load(self, plan: LoadPlan) -> ToolResult:
        """Load ``plan``, then insist the kernel says a crash kernel is loaded."""
        argv = load_argv(plan)
        if plan.kallsyms_text:
            copy = self._write_kallsyms_copy()
            try:
                result = self._run([*self.shim, str(copy), str(self.paths.proc("kallsyms")), "--", *argv],
                                   "kexec -p (with _text added to kallsyms)")
            finally:
                copy.unlink(missing_ok=True)
        else:
            result = self._run(argv, "kexec -p")
        if crash_loaded(self.paths) is not True:
            raise ArmError(
                f"kexec -p exited 0 but {self.paths.unhost(self.paths.kexec_crash_loaded)} is not 1",
                result.stderr,
                argv,
            )
        return result

    def unload(self, file_load: bool) -> ToolResult:
        argv = unload_argv(file_load)
        result = self._run(argv, "kexec -p -u")
        if crash_loaded(self.paths) is True:
            raise ArmError(
                f"kexec -p -u exited 0 but {self.paths.unhost(self.paths.kexec_crash_loaded)} is still 1",
                result.stderr,
                argv,
            )
        return result


def plan_for(
    paths: HostPaths, config: Config, boot: BootFiles, auto_file_load: bool, arch: str, test_id: str | None = None,
    *, network: Iterable[str] = (),
) -> LoadPlan:
    """The load plan for ``boot`` under ``config`` on this running system.

    ``auto_file_load``: what ``kexec_file_load = auto`` means here (``Readiness.auto_file_load``);
    ``network``: a remote target's capture network (``Readiness.capture_network``).
    """
    if boot.kernel is None:
        raise ArmError(f"no capture kernel image for {boot.release}")
    try:
        running = paths.cmdline.read_text(errors="replace")
    except OSError as exc:
        raise ArmError(f"cannot read {paths.unhost(paths.cmdline)}: {exc.strerror or exc}") from exc
    cmdline = capture_cmdline(running, config.arm.cmdline_remove, config.arm.cmdline_append, read_boot_id(paths),
                              test_id, network)
    mode = config.arm.kexec_file_load
    file_load = mode == "yes" or (mode == "auto" and auto_file_load)
    return make_plan(
        kernel=boot.kernel,
        initrd=boot.initrd,
        dtb=boot.dtb,
        kernel_kind=boot.kernel_kind,
        cmdline=cmdline,
        file_load=file_load,
        arch=arch,
        image_size=config.arm.image_size,
        kallsyms_lacks_text=arch == "aarch64" and not file_load and kallsyms_lacks_text(paths),
    )
