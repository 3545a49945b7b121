"""Drive makedumpfile: feature detection, argv, and what its failure means.

Compression support depends on how makedumpfile was built (Debian 12's 1.7.2:
zlib and lzo, no snappy, no zstd), so it is read from ``makedumpfile -v``, which
prints one ``<codec>\\t<enabled|disabled>`` line per optional codec; zlib is
always there. A disabled codec is silently *ignored* by makedumpfile (it writes
uncompressed pages), so asking for one blindly would be a quiet regression.

``--message-level 6`` keeps common and error messages (no progress bar): the
"No space left on device" / "Size limit(N) reached" lines are common messages, so
level 4 alone would hide exactly what the fallback chain needs to see.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crashd.core.errors import ToolError
from crashd.core.tools import ToolRunner

__all__ = [
    "AUTO_ORDER",
    "FLAGS",
    "Features",
    "MESSAGE_LEVEL",
    "RunResult",
    "argv",
    "choose_compression",
    "KILL_WAIT",
    "features",
    "io_bytes",
    "run",
]

MESSAGE_LEVEL = "6"
FLAGS = {"zlib": "-c", "lzo": "-l", "snappy": "-p", "zstd": "-z"}
AUTO_ORDER = ("zstd", "lzo", "zlib")  # fastest good ratio first; zlib is always built in
KILL_WAIT = 5.0  # seconds to wait for a killed collector to go
_NOSPACE_MARKERS = ("No space left on device", "Size limit(", "Disk quota exceeded")


@dataclass(frozen=True)
class Features:
    version: str | None
    codecs: frozenset[str]


@dataclass(frozen=True)
class RunResult:
    ok: bool
    no_space: bool
    returncode: int | None
    message: str  # the last meaningful line of its output
    stalled: str | None = None  # why it was killed: no progress, or the time bound


def features(tools: ToolRunner) -> Features:
    """What the installed makedumpfile can do (``makedumpfile -v``)."""
    result = tools.run(["makedumpfile", "-v"], timeout=30)
    text = result.stdout + result.stderr
    version = None
    codecs = {"zlib"}
    for line in text.splitlines():
        words = line.split()
        if line.startswith("makedumpfile: version") and len(words) > 2:
            version = words[2]
        elif len(words) == 2 and words[0] in FLAGS and words[1] == "enabled":
            codecs.add(words[0])
    return Features(version, frozenset(codecs))


def choose_compression(wanted: str, feats: Features) -> tuple[str, str | None]:
    """``(codec, note)``: the codec to use and, if it differs from ``wanted``, why."""
    if wanted == "none":
        return "none", None
    if wanted == "auto":
        for codec in AUTO_ORDER:
            if codec in feats.codecs:
                return codec, None
    if wanted in feats.codecs:
        return wanted, None
    fallback = next(c for c in AUTO_ORDER if c in feats.codecs)
    return fallback, f"makedumpfile has no {wanted} support; using {fallback}"


def argv(codec: str, level: int, vmcore: Path, out: Path, limit: int | None) -> list[str]:
    """``codec == "none"`` writes ELF (``-E``), readable without makedumpfile."""
    args = ["makedumpfile", "-E" if codec == "none" else FLAGS[codec], "-d", str(level)]
    if limit is not None:
        args += ["-L", str(limit)]
    return args + ["--message-level", MESSAGE_LEVEL, str(vmcore), str(out)]


def run(
    tools: ToolRunner,
    args: list[str],
    out: Path,
    on_tick: Callable[[int, bool], None] | None = None,
    tick: float = 2.0,
    *,
    stall_timeout: float = 30.0,
    deadline: float | None = None,
    activity: Callable[[int], int | None] | None = None,
    bound: str = "the save's time bound",
) -> RunResult:
    """Run makedumpfile, watching it: ``on_tick(bytes_so_far, moved)`` every ``tick``
    seconds (progress, and the systemd timeout extension while it moves).

    Progress is the output file's size, and ``activity(pid)`` (bytes the process
    read and wrote, from ``/proc/<pid>/io``) when available: makedumpfile reads and
    filters for a while before its output grows. No change in either for
    ``stall_timeout`` seconds, or ``deadline`` (``time.monotonic()``) passed: the
    process group is killed and the result names why (``stalled``).
    """
    try:
        proc = tools.start(args)
    except ToolError as exc:
        return RunResult(False, False, exc.returncode, str(exc))
    started = time.monotonic()
    last_move = started
    seen: tuple[int, int | None] = (0, None)
    killed: str | None = None
    while True:
        try:
            output, _ = proc.communicate(timeout=tick)
            break
        except subprocess.TimeoutExpired:
            pass
        size = _size(out)
        now_seen = (size, activity(proc.pid) if activity is not None else None)
        now = time.monotonic()
        moved = now_seen != seen
        if moved:
            seen, last_move = now_seen, now
        if on_tick is not None:
            on_tick(size, moved)
        if deadline is not None and now >= deadline:
            killed = f"{bound} was reached (at {size} bytes)"
        elif now - last_move >= stall_timeout:
            killed = f"no progress for {stall_timeout:g} s (at {size} bytes)"
        if killed is not None:
            output = _kill(proc)
            break
    if killed is not None:
        return RunResult(False, False, proc.returncode, f"{killed}; killed", stalled=killed)
    text = (output or "").replace("\r", "\n")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "%]" not in ln]
    no_space = any(m in text for m in _NOSPACE_MARKERS)
    failing = [ln for ln in lines if "Can't" in ln or "rror" in ln or "No space" in ln]
    message = (failing or lines or [f"exit {proc.returncode}"])[-1]
    ok = proc.returncode == 0
    return RunResult(ok, no_space and not ok, proc.returncode, message)


def io_bytes(path: Path) -> int | None:
    """``rchar + wchar`` of ``/proc/<pid>/io`` (None without task I/O accounting)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    total = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("rchar", "wchar") and value.strip().isdigit():
            total += int(value)
    return total


def _size(out: Path) -> int:
    try:
        return os.stat(out, follow_symlinks=False).st_size
    except OSError:
        return 0


def _kill(proc: subprocess.Popen[str]) -> str:
    """SIGKILL the collector's process group (no grace: it is stuck, and nothing it
    could still write is wanted). A task in uninterruptible sleep may not die: wait a
    little for its output, then leave it; the unit's timeout is the bound for that."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        output, _ = proc.communicate(timeout=KILL_WAIT)
    except subprocess.TimeoutExpired:
        return ""
    return output or ""
