"""Fixtures for the vmcore reader tests: Vector A on disk, the real reference dumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.vmcore_builder import vector_a, write_elf

REF = "x86_64-6.1-sysrq"


@pytest.fixture
def vector_a_elf(tmp_path: Path) -> Path:
    path = tmp_path / "a.elf"
    write_elf(path, vector_a())
    return path


@pytest.fixture(scope="session")
def reference_elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference ELF dump, decompressed once per session (streamed, never whole in memory)."""
    src = SHARED / "vmcores" / f"{REF}.elf.zst"
    if not src.is_file():
        pytest.skip(f"reference vmcore not found at {src}")
    import zstandard

    out = tmp_path_factory.mktemp("ref") / f"{REF}.elf"
    with src.open("rb") as fin, out.open("wb") as fout:
        reader = zstandard.ZstdDecompressor().stream_reader(fin)
        while chunk := reader.read(1 << 20):
            fout.write(chunk)
    return out
