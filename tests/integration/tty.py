"""Run ``crashd`` with its stdout on a real pseudo-terminal, as a person's shell would."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.integration.cli import REPO

__all__ = ["TtyResult", "fake_pager", "run_on_tty"]


@dataclass
class TtyResult:
    returncode: int
    stdout: str  # what the terminal showed (\r\n folded back to \n)
    stderr: str


def run_on_tty(args: Sequence[str], root: Path | None = None, env: dict[str, str] | None = None,
               columns: int = 200, timeout: float = 60) -> TtyResult:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    base = {k: v for k, v in os.environ.items()
            if k not in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET", "PAGER", "SYSTEMD_PAGER", "NO_COLOR",
                         "SYSTEMD_COLORS", "COLUMNS", "LESS", "SYSTEMD_LESS", "SYSTEMD_PAGERSECURE", "SUDO_UID",
                         "PKEXEC_UID")}
    full_env = {**base, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", **(env or {})}
    argv = [sys.executable, "-m", "crashd", *args, *(["--root", str(root)] if root is not None else [])]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=full_env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                break
            if not data:
                break
            chunks.append(data)
        rc = proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return TtyResult(rc, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"), err)


def fake_pager(directory: Path, name: str = "fakepager") -> Path:
    """A pager that marks what it shows and the environment and argv it got."""
    directory.mkdir(parents=True, exist_ok=True)
    p = directory / name
    p.write_text('#!/bin/sh\necho "PAGER-START argv=$* LESS=$LESS"\ncat\necho PAGER-END\n')
    p.chmod(0o755)
    return p
