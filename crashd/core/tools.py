"""The one seam through which crashd runs external tools.

kexec, makedumpfile, systemctl, mount and friends are all run through a
:class:`ToolRunner`. Arguments are always an argv list, never a shell string, so a
config value can never be interpreted by a shell. Tests replace the runner (or put
fake executables first on ``PATH``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from crashd.core.errors import ToolError

__all__ = ["ToolResult", "ToolRunner"]


@dataclass(frozen=True)
class ToolResult:
    """What a finished tool run left behind."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class ToolRunner:
    """Runs tools found on ``path`` (default: ``$PATH`` plus the sbin dirs)."""

    SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

    def __init__(self, path: str | None = None, env: Mapping[str, str] | None = None):
        base = path if path is not None else os.environ.get("PATH", "/usr/bin:/bin")
        parts = base.split(os.pathsep)
        if path is None:
            parts += [d for d in self.SBIN if d not in parts]
        self.path = os.pathsep.join(parts)
        self.env = dict(env) if env is not None else None

    def which(self, name: str) -> str | None:
        """Full path of ``name`` on this runner's path, or None."""
        return shutil.which(name, path=self.path)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        check: bool = False,
        input: str | None = None,
    ) -> ToolResult:
        """Run ``argv`` and capture its output.

        A missing executable or a timeout raises :class:`ToolError`; a non-zero exit
        does so only with ``check=True``.
        """
        args = [str(a) for a in argv]
        exe = self.which(args[0]) if "/" not in args[0] else args[0]
        if exe is None:
            raise ToolError(args, None, "", reason=f"{args[0]}: not found on PATH")
        env = dict(os.environ if self.env is None else self.env)
        env["PATH"] = self.path
        try:
            proc = subprocess.run(
                [exe, *args[1:]],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                input=input,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ToolError(args, None, "", reason=f"{args[0]} timed out after {exc.timeout}s") from exc
        except OSError as exc:
            raise ToolError(args, None, str(exc), reason=f"{args[0]} could not run") from exc
        result = ToolResult(args, proc.returncode, proc.stdout, proc.stderr)
        if check and not result.ok:
            raise ToolError(args, proc.returncode, proc.stderr)
        return result

    def start(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """Start ``argv`` for a caller that watches it and may have to kill it
        (a collector that stops making progress). It runs in a session of its own,
        so ``os.killpg(proc.pid, …)`` ends it with any children; stdout and stderr
        share one pipe, read with ``proc.communicate(timeout=…)``."""
        args = [str(a) for a in argv]
        exe = self.which(args[0]) if "/" not in args[0] else args[0]
        if exe is None:
            raise ToolError(args, None, "", reason=f"{args[0]}: not found on PATH")
        env = dict(os.environ if self.env is None else self.env)
        env["PATH"] = self.path
        try:
            return subprocess.Popen(
                [exe, *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise ToolError(args, None, str(exc), reason=f"{args[0]} could not run") from exc
