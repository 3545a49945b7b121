"""NT_PRSTATUS notes: the registers each CPU saved when the kernel crashed (§2.3)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

__all__ = ["CpuState", "parse_prstatus"]

EM_386, EM_ARM, EM_X86_64, EM_AARCH64 = 3, 40, 62, 183

# machine -> (pid offset, pc offset, sp offset, word format, user-mode test description size)
_LAYOUT: dict[int, tuple[int, int, int, str]] = {
    EM_X86_64: (32, 240, 264, "Q"),
    EM_AARCH64: (32, 368, 360, "Q"),
    EM_ARM: (24, 132, 124, "I"),
    EM_386: (24, 120, 132, "I"),
}


@dataclass(frozen=True)
class CpuState:
    """One PRSTATUS note. ``cpu`` is the note's index (≠ CPU number when CPUs were skipped)."""

    cpu: int
    pid: int
    pc: int
    sp: int
    user_mode: bool = False
    regs: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    # ``name+0xoff/0xsize`` from the dump's kallsyms (kernel-mode PCs only); filled by Dump.cpus
    pc_symbol: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, object]:
        return {"cpu": self.cpu, "pid": self.pid, "pc": f"{self.pc:#x}", "sp": f"{self.sp:#x}", "user_mode": self.user_mode}


def parse_prstatus(index: int, desc: bytes, machine: int, endian: str = "<") -> CpuState | None:
    """Registers from one descriptor; ``None`` for an unknown machine or a short note."""
    layout = _LAYOUT.get(machine)
    if layout is None:
        return None
    pid_off, pc_off, sp_off, w = layout
    wsize = struct.calcsize(w)
    if len(desc) < max(pc_off, sp_off) + wsize:
        return None
    pid = struct.unpack_from(endian + "i", desc, pid_off)[0]
    pc = struct.unpack_from(endian + w, desc, pc_off)[0]
    sp = struct.unpack_from(endian + w, desc, sp_off)[0]
    user = False
    regs: dict[str, int] = {}
    if machine == EM_X86_64:
        cs = struct.unpack_from(endian + "Q", desc, 248)[0]
        user = cs & 3 == 3
        regs = {"cs": cs, "rip": pc, "rsp": sp}
    elif machine == EM_AARCH64:
        pstate = struct.unpack_from(endian + "Q", desc, 376)[0]
        user = (pstate >> 2) & 3 == 0
        regs = {"pstate": pstate, "pc": pc, "sp": sp, "lr": struct.unpack_from(endian + "Q", desc, 352)[0]}
    elif machine == EM_ARM and len(desc) >= 140:
        cpsr = struct.unpack_from(endian + "I", desc, 136)[0]
        user = cpsr & 0x1F == 0x10
        regs = {"cpsr": cpsr, "pc": pc, "sp": sp}
    return CpuState(index, pid, pc, sp, user, regs)
