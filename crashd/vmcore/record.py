"""The printk record and the helpers every ring reader shares.

Its own module so that the lockless reader (:mod:`crashd.vmcore.printk`) and the
older rings (:mod:`crashd.vmcore.logbuf`) both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from crashd.core.errors import VmcoreError
from crashd.vmcore.translate import Translator
from crashd.vmcore.vmcoreinfo import VmcoreInfo

__all__ = ["LogRecord", "NoPrintkInfo", "need_key", "read_named"]


@dataclass(slots=True)
class LogRecord:
    """One printk record. ``raw`` keeps the bytes; ``text`` is them decoded (UTF-8, replaced).

    Not frozen: a frozen dataclass's ``__init__`` costs several times more per record.
    """

    seq: int
    ts_nsec: int
    level: int
    facility: int
    flags: int
    caller: int
    raw: bytes
    subsystem: str = ""
    device: str = ""
    state: str = "finalized"
    text_lost: bool = False

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "replace")

    @property
    def caller_str(self) -> str:
        """``T<pid>`` or ``C<cpu>`` as the kernel prints it (bit 31 set = CPU)."""
        return (f"C{self.caller & 0x7FFFFFFF}" if self.caller & 0x80000000 else f"T{self.caller}") if self.caller else ""

    @property
    def dict(self) -> dict[str, str]:
        d = {}
        if self.subsystem:
            d["SUBSYSTEM"] = self.subsystem
        if self.device:
            d["DEVICE"] = self.device
        return d


class NoPrintkInfo(VmcoreError):
    """VMCOREINFO names no known printk buffer."""


def need_key(info: VmcoreInfo, getter: str, name: str) -> int:
    """``info.<getter>(name)``, or NoPrintkInfo naming the missing key (e.g. ``SIZE(prb_desc)``)."""
    v = getattr(info, getter)(name)
    if v is None:
        key = f"{getter.upper()}({name})"
        if key in info.invalid:
            raise VmcoreError(f"VMCOREINFO {key}={info[key][:40]!r} is invalid ({info.invalid[key]}):"
                              " the printk ring cannot be read")
        raise NoPrintkInfo(f"VMCOREINFO lacks {key} needed to read the printk ring")
    return int(v)


def read_named(tr: Translator, va: int, size: int, what: str) -> bytes:
    """A whole kernel array; a failure names the array (what a person needs to know)."""
    try:
        return tr.read_virt(va, size)
    except VmcoreError as exc:
        raise VmcoreError(f"cannot read the printk {what} at {va:#x}: {exc}") from exc
