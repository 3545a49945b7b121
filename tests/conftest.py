"""Shared fixtures: fake roots and the real reference data in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("CRASHD_SHARED", Path(__file__).resolve().parents[2] / "shared"))


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
