"""The private spool directory ``<target>/crashd/`` (issue 10 C): only root's own is used."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest

from crashd.capture.spool import REFUSED_PREFIX, SPOOL_DIR, check_private_dir, ensure_spool_dir
from crashd.core.errors import UnsafePathError
from crashd.core.paths import HostPaths

from .test_save import _config, _only_dir, _run, _tools, bin_dir, root  # noqa: F401 - fixtures

MOMENT = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def sticky(tmp_path: Path) -> Path:
    """A target like /var/crash with apport: world-writable and sticky."""
    d = tmp_path / "crash"
    d.mkdir()
    d.chmod(0o1777)
    return d


def test_created_private_in_a_world_writable_target(sticky: Path) -> None:
    old = os.umask(0)
    try:
        path, refusal = ensure_spool_dir(sticky, MOMENT)
    finally:
        os.umask(old)
    assert path == sticky / SPOOL_DIR and refusal is None
    st = path.lstat()
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()


def test_existing_private_one_is_kept_and_tightened(sticky: Path) -> None:
    (sticky / SPOOL_DIR).mkdir(mode=0o755)
    (sticky / SPOOL_DIR / "20250101T000000-aaaaaaaa").mkdir()
    path, refusal = ensure_spool_dir(sticky, MOMENT)
    assert refusal is None and (path / "20250101T000000-aaaaaaaa").is_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


@pytest.mark.parametrize("kind", ["symlink", "world-writable", "group-writable", "file", "foreign owner"])
def test_unsafe_existing_one_is_refused_named_and_moved_aside(sticky: Path, tmp_path: Path, kind: str) -> None:
    planted = sticky / SPOOL_DIR
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if kind == "symlink":
        planted.symlink_to(elsewhere)
    elif kind == "file":
        planted.write_text("x")
    else:
        planted.mkdir()
        (planted / "20250101T000000-aaaaaaaa").mkdir()  # a forged capture
        planted.chmod({"world-writable": 0o777, "group-writable": 0o770}.get(kind, 0o700))
        if kind == "foreign owner":
            if os.geteuid() != 0:
                pytest.skip("needs root to chown (check_private_dir's euid test covers the rule)")
            os.chown(planted, 65534, 65534)
    path, refusal = ensure_spool_dir(sticky, MOMENT)
    aside = sticky / f"{REFUSED_PREFIX}20250301T120000"
    assert refusal is not None and str(planted) in refusal and aside.name in refusal
    assert aside.is_symlink() or aside.exists()
    assert not path.is_symlink() and path.is_dir() and list(path.iterdir()) == []
    assert list(elsewhere.iterdir()) == []


def test_check_private_dir_compares_the_owner_with_euid(tmp_path: Path) -> None:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        check_private_dir(fd, tmp_path)
        with pytest.raises(UnsafePathError, match=f"owned by uid {os.geteuid()}, not {os.geteuid() + 1}"):
            check_private_dir(fd, tmp_path, euid=os.geteuid() + 1)
    finally:
        os.close(fd)


def test_a_squatted_spool_cannot_stop_the_kernel_log(root: HostPaths, bin_dir: Path) -> None:  # noqa: F811
    """A local user planted /var/crash/crashd (world-writable, full of forged names):
    the capture still keeps dmesg.txt, in a fresh private directory, and says so."""
    target = root.var("crash")
    target.chmod(0o1777)
    planted = target / SPOOL_DIR
    planted.mkdir()
    for extra in range(200):
        (planted / f"2025{extra:04d}T000000-0f5c3b5e").mkdir()
    planted.chmod(0o777)
    outcome, _ = _run(root, _tools(bin_dir), _config(collector="copy"))
    d = _only_dir(target / SPOOL_DIR)
    assert outcome.directory == d and (d / "dmesg.txt").is_file()
    rec = json.loads((d / "capture.json").read_text())
    assert any("refused spool directory" in e and "group or world writable" in e for e in rec["errors"])
    assert len(list((target / f"{REFUSED_PREFIX}{d.name[:15]}").iterdir())) == 200
