"""Shared fixtures: fake roots and the real reference data in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("CRASHD_SHARED", Path(__file__).resolve().parents[2] / "shared"))
# The reference dump every reader test compares against (../shared/vmcores/<REF>.*).
REF = "x86_64-6.1-sysrq"


@pytest.fixture
def shared_vmcores() -> Path:
    """``../shared/vmcores`` (real dumps); skips when the folder is absent."""
    path = SHARED / "vmcores"
    if not path.is_dir():
        pytest.skip(f"reference vmcores not found at {path}")
    return path


@pytest.fixture
def shared_pstore() -> Path:
    """``../shared/pstore`` (real ramoops records); skips when absent."""
    path = SHARED / "pstore"
    if not path.is_dir():
        pytest.skip(f"reference pstore records not found at {path}")
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
