"""The oops test module's cache key and base lookup (fast: nothing is built)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.vm.oopsmod import SOURCES, cached_base, module_key


def test_module_key_follows_the_base_and_the_sources(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SOURCES, src)
    base = Path("/cache/armhf-d44a8156c2ec7bf9/base.tar")
    key = module_key(base, src)
    assert key.startswith("armhf-d44a8156c2ec7bf9-") and key == module_key(base, src)
    assert module_key(Path("/cache/armhf-0000000000000000/base.tar"), src) != key  # another kernel/base
    (src / "crashd_oops.c").write_text((src / "crashd_oops.c").read_text() + "/* edited */\n")
    assert module_key(base, src) != key


def test_a_missing_base_is_reported_never_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a base here could race another build of it (they share a partial file)."""
    monkeypatch.setenv("CRASHD_VM_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"no armhf base image at .*: build it first"):
        cached_base("armhf")
    assert list(tmp_path.iterdir()) == []
