"""The VMCOREINFO note: ``KEY=VALUE`` lines the crashed kernel left for its readers (§3)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["U64", "VmcoreInfo"]

U64 = (1 << 64) - 1


class VmcoreInfo(Mapping[str, str]):
    """Raw values by key, plus typed getters that return ``None`` when a key is absent."""

    def __init__(self, text: bytes | str, word_bits: int = 64):
        if isinstance(text, bytes):
            text = text.rstrip(b"\0").decode("ascii", "replace")
        self._d: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key:
                self._d[key] = value.strip()  # duplicates: the last one wins (kexec-tools)
        self.mask = (1 << word_bits) - 1

    def __getitem__(self, key: str) -> str:
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def _hex(self, key: str) -> int | None:
        v = self._d.get(key)
        if v is None:
            return None
        try:
            return int(v, 16) & U64
        except ValueError:
            return None

    def _dec(self, key: str) -> int | None:
        v = self._d.get(key)
        if v is None:
            return None
        try:
            return int(v, 16) if v[:2].lower() == "0x" else int(v, 10)
        except ValueError:
            return None

    def symbol(self, name: str) -> int | None:
        """``SYMBOL(name)``: a runtime (KASLR-shifted) address, printed as hex without 0x."""
        return self._hex(f"SYMBOL({name})")

    def size(self, name: str) -> int | None:
        return self._dec(f"SIZE({name})")

    def offset(self, name: str) -> int | None:
        return self._dec(f"OFFSET({name})")

    def length(self, name: str) -> int | None:
        return self._dec(f"LENGTH({name})")

    def number(self, name: str, signed: bool = False) -> int | None:
        """``NUMBER(name)``: signed decimal or ``0x`` hex; unsigned (masked) unless ``signed``."""
        v = self._dec(f"NUMBER({name})")
        if v is None or signed:
            return v
        return v & U64

    @property
    def osrelease(self) -> str | None:
        return self._d.get("OSRELEASE")

    @property
    def page_size(self) -> int | None:
        return self._dec("PAGESIZE")

    @property
    def crash_time(self) -> int | None:
        return self._dec("CRASHTIME")

    @property
    def kernel_offset(self) -> int | None:
        return self._hex("KERNELOFFSET")

    @property
    def build_id(self) -> str | None:
        return self._d.get("BUILD-ID")
