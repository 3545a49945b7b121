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
import threading
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
    "features",
    "run",
]

MESSAGE_LEVEL = "6"
FLAGS = {"zlib": "-c", "lzo": "-l", "snappy": "-p", "zstd": "-z"}
AUTO_ORDER = ("zstd", "lzo", "zlib")  # fastest good ratio first; zlib is always built in
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
    on_tick: Callable[[int], None] | None = None,
    tick: float = 2.0,
) -> RunResult:
    """Run makedumpfile; ``on_tick(bytes_so_far)`` is called while it runs, so
    progress and the systemd timeout extension keep flowing."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(tick):
            try:
                size = os.stat(out, follow_symlinks=False).st_size
            except OSError:
                size = 0
            if on_tick is not None:
                on_tick(size)

    watcher = threading.Thread(target=watch, name="makedumpfile-progress", daemon=True)
    watcher.start()
    try:
        result = tools.run(args, timeout=None)
    except ToolError as exc:
        return RunResult(False, False, exc.returncode, str(exc))
    finally:
        stop.set()
        watcher.join()
    text = (result.stdout + "\n" + result.stderr).replace("\r", "\n")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "%]" not in ln]
    no_space = any(m in text for m in _NOSPACE_MARKERS)
    failing = [ln for ln in lines if "Can't" in ln or "rror" in ln or "No space" in ln]
    message = (failing or lines or [f"exit {result.returncode}"])[-1]
    return RunResult(result.ok, no_space and not result.ok, result.returncode, message)
