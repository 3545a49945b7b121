"""Run ``crashd`` as a real subprocess against a fake root."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_crashd(args: Sequence[str], root: Path | None = None, path: str | None = None,
               env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET")}
    full_env["PYTHONPATH"] = str(REPO)
    if path is not None:
        full_env["PATH"] = path
    full_env.update(env or {})
    argv = [sys.executable, "-m", "crashd", *args]
    if root is not None:
        argv += ["--root", str(root)]
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, check=False)
