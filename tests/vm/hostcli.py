"""crashd run on the host against records read back from a guest: a throwaway root with a store.

The VM tests that check what a person does after the crash (``crashd show``, ``debug``,
``analyze``) copy the guest's records into such a root and run the CLI there, as a separate
process with ``--root``, so nothing of the host's own ``/var/lib/crash`` is read or written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.cli import run_crashd
from tests.journal_export import journal_remote

__all__ = ["collector_view", "crashd_cli", "fake_root"]


def fake_root(root: Path) -> Path:
    """A fresh root at ``root`` with a Debian os-release and an empty 0700 store; returns the store."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "os-release").write_text("ID=debian\nVERSION_ID=12\n")
    store = root / "var" / "lib" / "crash"
    store.mkdir(parents=True, mode=0o700)
    return store


def crashd_cli(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``crashd ARGS --root ROOT``; debuggers and analysis on a real dump take minutes, not seconds."""
    return run_crashd(list(args), root=root, env={"CRASHD_ROOT": str(root)}, timeout=timeout)


def collector_view(export: Path, collector: Path, err: str = "") -> dict[str, Any]:
    """A guest's ``journalctl -o export`` (what systemd-journal-upload ships) through the host's
    systemd-journal-remote into ``collector``; then ``crashd list --journal --file`` there, as JSON."""
    assert export.is_file() and export.stat().st_size > 0, err
    collector.unlink(missing_ok=True)
    journal_remote(export.read_bytes(), collector)
    res = run_crashd(["list", "--journal", "--file", str(collector), "--json"])
    assert res.returncode == 0, res.stderr
    view: dict[str, Any] = json.loads(res.stdout)
    return view
