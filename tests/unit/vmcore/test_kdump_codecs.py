"""Which library decodes snappy pages: cramjam (pip) or python-snappy (Debian's python3-snappy).

Debian 12 has no cramjam package, so a .deb install reads snappy dumps only through
python3-snappy. Blocking an import is done with ``sys.modules[name] = None``, which makes
``import name`` raise ImportError exactly as an absent package does.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from crashd.vmcore import open_dump
from crashd.vmcore.memory import UnsupportedCompression
from tests.vmcore_builder import VECTOR_A_EXPECTED, kdump_bytes, vector_a

cramjam = pytest.importorskip("cramjam")  # builds the snappy pages, and stands in for libsnappy's decoder


def _python_snappy() -> types.ModuleType:
    """A module with python-snappy's decoding API: ``snappy.decompress`` takes and returns raw-format bytes."""
    mod = types.ModuleType("snappy")
    mod.decompress = lambda data: bytes(cramjam.snappy.decompress_raw(data))  # type: ignore[attr-defined]
    return mod


def _snappy_dump(tmp_path: Path) -> Path:
    path = tmp_path / "dump"
    path.write_bytes(kdump_bytes(vector_a(), compression="snappy"))
    return path


def test_snappy_pages_decode_through_python_snappy_when_cramjam_is_absent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _snappy_dump(tmp_path)
    monkeypatch.setitem(sys.modules, "cramjam", None)
    monkeypatch.setitem(sys.modules, "snappy", _python_snappy())
    with open_dump(path) as d:
        assert d.dmesg_text() == VECTOR_A_EXPECTED


def test_snappy_without_either_library_names_both_packages(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _snappy_dump(tmp_path)
    monkeypatch.setitem(sys.modules, "cramjam", None)
    monkeypatch.setitem(sys.modules, "snappy", None)
    with open_dump(path) as d, pytest.raises(UnsupportedCompression) as err:
        d.container.read_phys(0x49000 * 4096, 8)
    assert err.value.codec == "snappy"
    assert "cramjam" in str(err.value) and "python3-snappy" in str(err.value)
