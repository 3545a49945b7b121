"""The VMCOREINFO note: ``KEY=VALUE`` lines the crashed kernel left for its readers (§3).

Values are checked here, once, where they are parsed: a typed key (``SIZE()``, ``OFFSET()``,
``LENGTH()``, ``NUMBER()``, ``SYMBOL()``, ``PAGESIZE``, ``CRASHTIME``, ``KERNELOFFSET``…) whose
value is malformed or out of range for its kind (a negative offset, a 29-digit crash time) is
treated as absent by the typed getters and listed in :attr:`VmcoreInfo.problems`, so no reader
ever computes with it; :func:`need_key <crashd.vmcore.record.need_key>` names it when it was
required. The mapping itself keeps every raw value, as the kernel wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

__all__ = ["MAX_CRASHTIME", "MAX_FIELD", "MAX_LENGTH", "U64", "VmcoreInfo", "check_value"]

U64 = (1 << 64) - 1
MAX_FIELD = 1 << 26  # SIZE()/OFFSET(): no kernel structure comes near 64 MiB
MAX_LENGTH = 1 << 32  # LENGTH(): array lengths (mem_section roots, printk name lengths)
MAX_CRASHTIME = 253402300799  # 9999-12-31T23:59:59Z: the last second datetime and gmtime accept
_HEX = re.compile(r"(?:0[xX])?[0-9a-fA-F]{1,16}")
_DEC = re.compile(r"-?[0-9]{1,20}|0[xX][0-9a-fA-F]{1,16}")
_PRINTABLE = re.compile(r"[\x21-\x7e]{1,128}")


def _dec(value: str) -> int:
    if not _DEC.fullmatch(value):
        raise ValueError("not a number of at most 20 digits")
    return int(value, 16) if value[:2].lower() == "0x" else int(value, 10)


def _hex(value: str) -> int:
    if not _HEX.fullmatch(value):
        raise ValueError("not a hexadecimal address")
    return int(value, 16)


def _bounded(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(value: str) -> int:
        v = _dec(value)
        if not low <= v < high:
            raise ValueError(what)
        return v

    return parse


def _page_size(value: str) -> int:
    v = _dec(value)
    if v < 512 or v > 1 << 20 or v & (v - 1):
        raise ValueError("not a power of two between 512 and 1 MiB")
    return v


def _text(value: str) -> str:
    if not _PRINTABLE.fullmatch(value):
        raise ValueError("not a short printable word")
    return value


def _build_id(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{2,80}", value):
        raise ValueError("not a hexadecimal build id")
    return value


_FIELD = _bounded(0, MAX_FIELD, "negative or too large")
# prefix of the key -> parser: raises ValueError for a value that kind cannot have
_BY_PREFIX: tuple[tuple[str, Callable[[str], object]], ...] = (
    ("SIZE(", _FIELD),
    ("OFFSET(", _FIELD),
    ("LENGTH(", _bounded(0, MAX_LENGTH, "negative or too large")),
    ("NUMBER(", _bounded(-(1 << 63), 1 << 64, "beyond 64 bits")),
    ("SYMBOL(", _hex),
)
_BY_KEY: dict[str, Callable[[str], object]] = {
    "PAGESIZE": _page_size,
    "CRASHTIME": _bounded(0, MAX_CRASHTIME + 1, "not a time between 1970 and 9999"),
    "KERNELOFFSET": _hex,
    "OSRELEASE": _text,
    "BUILD-ID": _build_id,
}


def check_value(key: str, value: str) -> object:
    """The typed value of ``key``; raises ValueError (with the reason) if its kind forbids ``value``.

    Keys of no known kind are returned as the raw string."""
    parse = _BY_KEY.get(key)
    if parse is None:
        parse = next((p for prefix, p in _BY_PREFIX if key.startswith(prefix)), None)
    return value if parse is None else parse(value)


class VmcoreInfo(Mapping[str, str]):
    """Raw values by key, plus typed getters that return ``None`` when a key is absent or invalid."""

    def __init__(self, text: bytes | str, word_bits: int = 64):
        if isinstance(text, bytes):
            text = text.rstrip(b"\0").decode("ascii", "replace")
        self._d: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key:
                self._d[key] = value.strip()  # duplicates: the last one wins (kexec-tools)
        self.mask = (1 << word_bits) - 1
        self._typed: dict[str, object] = {}
        self.invalid: dict[str, str] = {}  # key -> why its value was refused
        for key, value in self._d.items():
            try:
                typed = check_value(key, value)
            except ValueError as exc:
                self.invalid[key] = str(exc)
                continue
            if key.startswith("SYMBOL(") and isinstance(typed, int) and typed > self.mask:
                self.invalid[key] = f"wider than {word_bits} bits"
                continue
            self._typed[key] = typed

    @property
    def problems(self) -> list[str]:
        """One sentence per refused value, for a person (values shortened)."""
        return [f"VMCOREINFO {k}={_short(self._d[k])} ignored: {why}" for k, why in self.invalid.items()]

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def _int(self, key: str) -> int | None:
        v = self._typed.get(key)
        return v if isinstance(v, int) else None

    def symbol(self, name: str) -> int | None:
        """``SYMBOL(name)``: a runtime (KASLR-shifted) address, printed as hex without 0x."""
        return self._int(f"SYMBOL({name})")

    def size(self, name: str) -> int | None:
        return self._int(f"SIZE({name})")

    def offset(self, name: str) -> int | None:
        return self._int(f"OFFSET({name})")

    def length(self, name: str) -> int | None:
        return self._int(f"LENGTH({name})")

    def number(self, name: str, signed: bool = False) -> int | None:
        """``NUMBER(name)``: signed decimal or ``0x`` hex; unsigned (masked) unless ``signed``."""
        v = self._int(f"NUMBER({name})")
        if v is None:
            return None
        if signed:
            return v - (1 << 64) if v >= 1 << 63 else v
        return v & U64

    @property
    def osrelease(self) -> str | None:
        v = self._typed.get("OSRELEASE")
        return v if isinstance(v, str) else None

    @property
    def page_size(self) -> int | None:
        return self._int("PAGESIZE")

    @property
    def crash_time(self) -> int | None:
        return self._int("CRASHTIME")

    @property
    def kernel_offset(self) -> int | None:
        return self._int("KERNELOFFSET")

    @property
    def build_id(self) -> str | None:
        v = self._typed.get("BUILD-ID")
        return v if isinstance(v, str) else None


def _short(value: str) -> str:
    shown = value[:40].encode("unicode_escape").decode("ascii")
    return shown + ("…" if len(value) > 40 else "")
