"""Fixtures for the vmcore reader tests: Vector A on disk (the reference dump is tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vmcore_builder import vector_a, write_elf


@pytest.fixture
def vector_a_elf(tmp_path: Path) -> Path:
    path = tmp_path / "a.elf"
    write_elf(path, vector_a())
    return path
