"""One dump's analysis, end to end: which kernel, which debug info, the report, the files.

``analysis.json`` and ``analysis.txt`` are written into the record directory (durably, 0600)
after the record was published; they are derived files that ``crashd analyze`` can remake, so
``metadata.json`` (and its ``files`` list) is left as ingest wrote it.

At ingest (:func:`at_ingest`) the analysis runs in a child process, ``crashd analyze --quiet RECORD``,
started through the ToolRunner under ``nice -n 19``, ``ionice -c 3`` and ``prlimit --as`` with a
time limit: a dump that makes drgn spin or balloon costs the machine a bounded amount, and a
failure is one journal line — the record stays as it was.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from crashd.analyze.debuginfo import DebugInfo, KernelId, NoDebugInfo, find_debuginfo
from crashd.analyze.schema import Analysis, empty
from crashd.analyze.text import format_report
from crashd.core.errors import CrashdError, ToolError, VmcoreError
from crashd.core.fsutil import write_durable
from crashd.core.paths import HostPaths
from crashd.core.settings import AnalyzeConfig
from crashd.core.tools import ToolResult, ToolRunner

__all__ = [
    "ANALYSIS_JSON",
    "ANALYSIS_TXT",
    "at_ingest",
    "bounded_argv",
    "kernel_of",
    "make_report",
    "read_analysis",
    "run_bounded",
    "write_analysis",
]

log = logging.getLogger(__name__)

ANALYSIS_JSON = "analysis.json"
ANALYSIS_TXT = "analysis.txt"
MAX_ANALYSIS = 64 << 20


def kernel_of(dump: Path) -> KernelId:
    """The crashed kernel's release and build id, from the dump (a symlink is refused)."""
    from crashd.vmcore import open_dump

    with open_dump(dump, nofollow=True) as d:
        return KernelId(d.kernel_release, (d.vmcoreinfo.build_id or "").lower() or None, d.machine)


def make_report(
    paths: HostPaths,
    config: AnalyzeConfig,
    dump: Path,
    *,
    extra: Sequence[Path] = (),
    network: bool = True,
    kind: str | None = None,
    dmesg: str = "",
    tools: ToolRunner | None = None,
) -> Analysis:
    """The report of ``dump``: ``ok`` with drgn and debug info, else a ``no-*`` one naming what to install."""
    from crashd.analyze.report import analyze_dump, drgn_available

    kernel = kernel_of(dump)
    ident = {"release": kernel.release, "build_id": kernel.build_id}
    try:
        info: DebugInfo = find_debuginfo(paths, kernel, dirs=config.debuginfo_dirs, extra=extra, tools=tools,
                                         network=network)
    except NoDebugInfo as exc:
        report = empty("no-debuginfo", ident)
        report["install"] = exc.hint
        report["problems"] = [f"refused {r.path}: {r.reason}" for r in exc.rejected]
        return report
    if drgn_available() is None:
        report = empty("no-drgn", ident)
        report["install"] = "python3-drgn (pip: drgn)"
        report["debuginfo"] = {"vmlinux": str(info.vmlinux), "how": info.how, "verified": info.verified}
        return report
    try:
        return analyze_dump(dump, kernel, info, kind=kind, dmesg=dmesg)
    except Exception as exc:  # noqa: BLE001 - drgn raises many types for a file it cannot use
        report = empty("failed", ident)
        report["debuginfo"] = {"vmlinux": str(info.vmlinux), "how": info.how, "verified": info.verified}
        report["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return report


def write_analysis(record: Path, report: Analysis) -> None:
    write_durable(record, ANALYSIS_JSON, (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())
    write_durable(record, ANALYSIS_TXT, format_report(report).encode())


def read_analysis(record: Path) -> dict[str, Any] | None:
    """The record's ``analysis.json``, or None when it has none or it is unreadable (not ours)."""
    from crashd.core.errors import UnsafePathError
    from crashd.core.fsutil import read_regular

    try:
        data = json.loads(read_regular(record / ANALYSIS_JSON, MAX_ANALYSIS))
    except (OSError, ValueError, UnsafePathError):
        return None
    return data if isinstance(data, dict) else None


def bounded_argv(tools: ToolRunner, argv: Sequence[str], memory_max: int) -> list[str]:
    """``argv`` under ``nice -n 19``, ``ionice -c 3`` and ``prlimit --as`` (each when installed)."""
    prefix: list[str] = []
    if tools.which("nice"):
        prefix += ["nice", "-n", "19"]
    if tools.which("ionice"):
        prefix += ["ionice", "-c", "3", "-t"]
    if memory_max and tools.which("prlimit"):
        prefix += ["prlimit", f"--as={memory_max}", "--"]
    return [*prefix, *argv]


def run_bounded(tools: ToolRunner, argv: Sequence[str], *, time_limit: float, memory_max: int) -> ToolResult:
    """Run ``argv`` bounded; a time-out raises :class:`ToolError` (the process is killed)."""
    return tools.run(bounded_argv(tools, argv, memory_max), timeout=time_limit)


def at_ingest(
    paths: HostPaths,
    config: AnalyzeConfig,
    tools: ToolRunner,
    record: Path,
    dump: Path | None,
    failed: Callable[[str], None],
    *,
    argv0: Sequence[str] | None = None,
) -> str | None:
    """After ingest wrote ``record``: analyse it as ``[analyze] on_ingest`` says. Returns a line
    for the operator (or None); calls ``failed(message)`` once when the analysis failed."""
    if config.on_ingest == "no" or dump is None:
        return None
    try:
        kernel = kernel_of(dump)
    except (VmcoreError, CrashdError, OSError) as exc:
        failed(f"{record.name}: not analysed: the dump cannot be read: {exc}")
        return None
    network = config.on_ingest == "yes"  # auto: only what is on this machine
    try:
        find_debuginfo(paths, kernel, dirs=config.debuginfo_dirs, tools=tools, network=network)
    except NoDebugInfo as exc:
        report = empty("no-debuginfo", {"release": kernel.release, "build_id": kernel.build_id})
        report["install"] = exc.hint
        report["problems"] = [f"refused {r.path}: {r.reason}" for r in exc.rejected]
        try:
            write_analysis(record, report)
        except OSError as err:
            failed(f"{record.name}: cannot note the missing debug info: {err.strerror or err}")
        return f"{record.name}: no debug info; install {exc.hint} and run crashd analyze {record.name}"
    base = list(argv0) if argv0 is not None else [sys.executable, "-m", "crashd"]
    argv = [*base, "--root", str(paths.root), "analyze", "--quiet", *([] if network else ["--no-network"]), str(record)]
    try:
        res = run_bounded(tools, argv, time_limit=config.time_limit, memory_max=config.memory_max)
    except ToolError as exc:
        failed(f"{record.name}: analysis stopped: {exc}")
        return None
    if not res.ok:
        detail = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        failed(f"{record.name}: analysis failed (exit {res.returncode}): {detail}")
        return None
    return f"{record.name}: analysed ({ANALYSIS_TXT})"
