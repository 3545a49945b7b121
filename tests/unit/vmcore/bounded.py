"""Run reader code in a child process under hard CPU-time and address-space limits.

A hang or an unbounded allocation then ends the child (SIGXCPU, MemoryError) instead of the
test session, and the test sees it as a failure with the child's last words.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "run_bounded"]

REPO = Path(__file__).resolve().parents[3]


def run_bounded(code: str, *, cpu_seconds: int = 10, memory: int = 512 << 20) -> str:
    """Run ``code`` (Python source) with ``RLIMIT_CPU``/``RLIMIT_AS``; return its stdout.

    Fails the test when the child is killed, raises, or prints anything on stderr.
    """

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          preexec_fn=limit, timeout=20 * cpu_seconds, check=False)
    assert proc.returncode == 0 and not proc.stderr, (
        f"child exited {proc.returncode} (-{int(signal.SIGXCPU)}: CPU limit; MemoryError: memory limit)\n"
        f"{proc.stderr[-3000:]}"
    )
    return proc.stdout
