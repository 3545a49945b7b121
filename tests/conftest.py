"""Shared fixtures: fake roots and the real reference data in tests/data (see its README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests check behaviour, never speed: on a loaded CI machine (2 cores shared with QEMU)
# input generation is slow, and a deadline or the too_slow health check would fail by chance.
settings.register_profile("crashd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("crashd")

DATA = Path(__file__).resolve().parent / "data"
# The reference dump every reader test compares against (tests/data/vmcores/<REF>.*).
REF = "x86_64-6.1-sysrq"


@pytest.fixture(scope="session")
def ref_vmcores(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/data/vmcores with every ``*.zst`` decompressed once per session (streamed, never
    whole in memory): ``<REF>.elf``, ``.kdump-zlib``, ``.kdump-lzo``, ``.flat`` and the text files."""
    import zstandard

    out = tmp_path_factory.mktemp("vmcores")
    for src in sorted((DATA / "vmcores").iterdir()):
        if src.suffix == ".zst":
            with src.open("rb") as fin, (out / src.stem).open("wb") as fout:
                zstandard.ZstdDecompressor().copy_stream(fin, fout)
        elif src.suffix == ".txt":
            shutil.copyfile(src, out / src.name)
    return out


@pytest.fixture(scope="session")
def reference_elf(ref_vmcores: Path) -> Path:
    """The reference ELF dump (what ``makedumpfile -E -d 31`` wrote), decompressed."""
    return ref_vmcores / f"{REF}.elf"


@pytest.fixture
def ref_pstore() -> Path:
    """tests/data/pstore: real ramoops records, as the pstore file system showed them."""
    return DATA / "pstore"
