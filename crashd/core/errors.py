"""The one root error type and its data-carrying subclasses.

The CLI catches only :class:`CrashdError` and prints ``str(error)`` as one line;
anything else is a bug and shows a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "CrashdError",
    "NotFoundError",
    "ToolError",
    "UnsafePathError",
    "UsageError",
    "VmcoreError",
]


class CrashdError(Exception):
    """Root of every error crashd raises on purpose."""

    exit_code = 1


class UsageError(CrashdError):
    """The command line was wrong (exit status 2)."""

    exit_code = 2


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one config file, located to the line."""

    path: str
    line: int
    section: str | None
    key: str | None
    message: str
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:" if self.line else f"{self.path}:"
        what = ""
        if self.section is not None:
            what = f" [{self.section}]"
            if self.key is not None:
                what += f" {self.key}"
            what += ":"
        elif self.key is not None:
            what = f" {self.key}:"
        prefix = "" if self.severity == "error" else f" {self.severity}:"
        return f"{where}{what}{prefix} {self.message}"


class ConfigError(CrashdError):
    """The configuration has at least one error; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors) or "invalid configuration")


class ToolError(CrashdError):
    """An external tool failed; carries its argv, exit status and stderr."""

    def __init__(self, argv: list[str], returncode: int | None, stderr: str, reason: str = ""):
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        msg = reason or f"{argv[0]} failed"
        if returncode is not None:
            msg += f" (exit {returncode})"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class UnsafePathError(CrashdError):
    """A path crashd writes to or reads from is a symlink or otherwise unsafe."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class VmcoreError(CrashdError):
    """A vmcore could not be read (foreign, truncated beyond use, corrupt)."""


class NotFoundError(CrashdError):
    """A named thing (record, file) does not exist or is ambiguous."""
