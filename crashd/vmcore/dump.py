"""One opened dump, whatever its container: identity, registers, completeness, the log.

The format is detected from the first bytes (§5.1), never from the file name.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from crashd.core.errors import VmcoreError
from crashd.vmcore.memory import Source
from crashd.vmcore.prstatus import EM_386, EM_AARCH64, EM_ARM, EM_X86_64, CpuState, parse_prstatus
from crashd.vmcore.record import LogRecord
from crashd.vmcore.vmcoreinfo import VmcoreInfo

if TYPE_CHECKING:
    from crashd.vmcore.kallsyms import Kallsyms

__all__ = ["Dump", "FLAT_SIGNATURE", "MACHINES", "detect"]

MACHINES = {EM_X86_64: "x86_64", EM_AARCH64: "aarch64", EM_ARM: "arm", EM_386: "i386"}
_MACHINE_BY_NAME = {"x86_64": EM_X86_64, "aarch64": EM_AARCH64, "arm64": EM_AARCH64, "i386": EM_386, "i686": EM_386}

FLAT_SIGNATURE = b"makedumpfile\0\0\0\0"


def _machine_from_uts(name: str) -> int:
    """e_machine for a kdump header's ``utsname.machine`` (armv7l, i686, …); 0 if unknown."""
    if name in _MACHINE_BY_NAME:
        return _MACHINE_BY_NAME[name]
    if name.startswith("arm"):
        return EM_ARM
    if len(name) == 4 and name[0] == "i" and name.endswith("86"):
        return EM_386
    return 0


def detect(head: bytes) -> str | None:
    """``elf``, ``kdump``, ``diskdump``, ``flat`` or ``None`` from the first 16+ bytes."""
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:8] == b"KDUMP   ":
        return "kdump"
    if head[:8] == b"DISKDUMP":
        return "diskdump"
    if head[:16] == FLAT_SIGNATURE:
        return "flat"
    return None


class Dump:
    """An opened vmcore. Use as a context manager (closes the file).

    Attributes: ``format`` ("elf" | "kdump" | "flat"), ``vmcoreinfo`` (:class:`VmcoreInfo`),
    ``kernel_release``, ``machine`` ("x86_64", "aarch64", "arm", …), ``page_size``,
    ``crash_time`` (epoch seconds or None), ``kaslr_offset``, ``cpus`` (one
    :class:`CpuState` per PRSTATUS note: ``.cpu`` = note index, ``.pid``, ``.pc``, ``.sp``, ``.pc_symbol``),
    ``complete`` (False when truncated or flagged incomplete), ``warnings`` (sentences for a
    person; reading the log may add more), ``estimated_size`` (ELF: bytes the file should
    have; None otherwise). The log is read on first use: :meth:`log_records`, :meth:`dmesg_text`.
    """

    def __init__(self, path: str | os.PathLike[str], *, nofollow: bool = False):
        self.path = os.fspath(path)
        self.src = Source(path, nofollow=nofollow)
        self.warnings: list[str] = []
        self._records: list[LogRecord] | None = None
        self._log_error: VmcoreError | None = None
        self._kallsyms: Kallsyms | VmcoreError | None = None
        try:
            self._open()
        except BaseException:
            self.src.close()
            raise

    def _open(self) -> None:
        head = self.src.pread(0, 64)
        kind = detect(head)
        if kind is None:
            if not head:
                raise VmcoreError(f"{self.path}: empty file, not a vmcore")
            raise VmcoreError(f"{self.path}: not a vmcore (no ELF, KDUMP or makedumpfile flattened signature)")
        if kind == "diskdump":
            raise VmcoreError(f"{self.path}: old 'DISKDUMP' format is not supported")
        self.format = kind
        endian = "<"
        self.container: Any
        if kind == "elf":
            from crashd.vmcore.elf import ElfVmcore

            c = ElfVmcore(self.src)
            self.container = c
            machine, notes, endian = c.e_machine, c.notes, c.endian
            self.complete = not (c.truncated or c.incomplete)
            self.estimated_size: int | None = c.expected_size
            loads = c.loads
            phys_hint = None
        else:
            from crashd.vmcore.kdump import KdumpVmcore, open_flat

            reader = open_flat(self.src) if kind == "flat" else self.src
            k = KdumpVmcore(reader, self.path)
            self.container = k
            notes = k.notes
            machine = _machine_from_uts(k.uts_machine)
            self.complete = not (k.truncated or k.incomplete)
            self.estimated_size = None
            loads = []
            phys_hint = k.phys_base
        self.warnings.extend(self.container.warnings)
        self.e_machine = machine
        self.machine = MACHINES.get(machine, f"machine-{machine}")
        info_text = next((n.desc for n in notes if n.name == b"VMCOREINFO"), None)
        if info_text is None and kind != "elf":
            info_text = self.container.vmcoreinfo_text
        word_bits = 32 if machine in (EM_ARM, EM_386) else 64
        self.vmcoreinfo = VmcoreInfo(info_text or b"", word_bits)
        if info_text is None:
            self.warnings.append("no VMCOREINFO note: kernel release and log cannot be located")
        self.warnings.extend(self.vmcoreinfo.problems)
        self._cpus: list[CpuState] = []
        self._cpus_named = False
        for n in notes:
            if n.name == b"CORE" and n.type == 1:
                st = parse_prstatus(len(self._cpus), n.desc, machine, endian)
                if st is not None:
                    self._cpus.append(st)
        from crashd.vmcore.translate import Translator

        self.translator = Translator(self.container, self.vmcoreinfo, machine, loads, phys_hint, endian)
        self._alt_translator = (
            Translator(self.container, self.vmcoreinfo, machine, [], phys_hint, endian) if any(ld.vaddr for ld in loads)
            else None
        )
        self._translation_checked = False
        rel = self.vmcoreinfo.osrelease
        if rel is None and kind != "elf":
            rel = self.container.uts_release or None
        self.kernel_release: str | None = rel
        self.page_size: int | None = self.vmcoreinfo.page_size or getattr(self.container, "block_size", None)
        self.crash_time: int | None = self.vmcoreinfo.crash_time
        self.kaslr_offset: int | None = self.vmcoreinfo.kernel_offset

    @property
    def cpus(self) -> list[CpuState]:
        """One CpuState per PRSTATUS note, kernel-mode PCs named from the dump's kallsyms.

        Named on first use, while the dump is open, so that a caller that keeps the list
        after closing (ingest) still has the names; the capture kernel never asks."""
        if not self._cpus_named:
            self._cpus_named = True
            self._cpus = [c if c.user_mode else replace(c, pc_symbol=self.symbolize(c.pc)) for c in self._cpus]
        return self._cpus

    # ---------------------------------------------------------------- log
    def log_records(self) -> list[LogRecord]:
        """Every record of the printk ring; raises VmcoreError when the ring is unreadable."""
        if self._records is None:
            if self._log_error is not None:
                raise self._log_error
            from crashd.vmcore.printk import read_log

            self._check_translation()
            try:
                records, warns = read_log(self.translator, self.vmcoreinfo)
            except VmcoreError as exc:
                self._log_error = exc
                raise
            self._records = records
            self.warnings.extend(warns)
        return self._records

    def dmesg_text(self, style: str = "vmcore-dmesg") -> str:
        from crashd.vmcore.render import render

        return render(self.log_records(), style)

    def _check_translation(self) -> None:
        """§1.5: if the PT_LOAD virtual addresses fail the utsname check but the kernel's own
        rules (phys_base, page tables) pass it, the headers lie — use the kernel's rules."""
        if self._translation_checked:
            return
        self._translation_checked = True
        problem = self.uts_check()
        if problem and "looks wrong" in problem and self._alt_translator is not None:
            if self.uts_check(self._alt_translator) is None:
                self.translator = self._alt_translator
                self.warnings.append("the dump's PT_LOAD virtual addresses disagree with the kernel's page tables;"
                                     " ignored them")

    def symbolize(self, addr: int) -> str | None:
        """``name+0xoff/0xsize`` for a vmlinux text address, from the dump's kallsyms; else None."""
        if self._kallsyms is None:
            from crashd.vmcore.kallsyms import Kallsyms

            self._check_translation()
            try:
                self._kallsyms = Kallsyms(self.translator, self.vmcoreinfo)
            except VmcoreError as exc:
                self._kallsyms = exc
        if isinstance(self._kallsyms, VmcoreError):
            return None
        try:
            return self._kallsyms.lookup(addr)
        except VmcoreError:
            return None

    def uts_check(self, translator: Any = None) -> str | None:
        """Warning text if the crashed kernel's utsname disagrees with OSRELEASE (bad translation)."""
        tr = translator or self.translator
        sym = self.vmcoreinfo.symbol("init_uts_ns")
        if sym is None or self.kernel_release is None:
            return None
        base = sym + (self.vmcoreinfo.offset("uts_namespace.name") or 0)
        try:
            rel = tr.read_virt(base + 130, 65).split(b"\0", 1)[0].decode("ascii", "replace")
        except VmcoreError as exc:
            return f"cannot read init_uts_ns: {exc}"
        if rel != self.kernel_release:
            return f"address translation looks wrong: utsname release {rel!r} != OSRELEASE {self.kernel_release!r}"
        return None

    # ---------------------------------------------------------------- lifecycle
    def close(self) -> None:
        self.src.close()
        c = getattr(self, "container", None)
        if c is not None and hasattr(c, "close"):
            c.close()

    def __enter__(self) -> Dump:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
