"""What ``crashd show`` adds about debugging a record: the symbolised backtrace when an analysis
exists, the command ``crashd debug`` would run, or — once, not as an error — what to install."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from crashd.core.paths import HostPaths

__all__ = ["show_lines"]


def show_lines(paths: HostPaths, record: Path, meta: dict[str, Any], width: int) -> list[str]:
    """``Key: value`` lines (keys right-aligned to ``width``); never raises for a damaged record."""
    try:
        return _lines(paths, record, meta, width)
    except Exception as exc:  # noqa: BLE001 - show must show the record whatever this part meets
        return [f"{'Analysis'.rjust(width)}: unavailable ({type(exc).__name__}: {exc})"]


def _lines(paths: HostPaths, record: Path, meta: dict[str, Any], width: int) -> list[str]:
    from crashd.analyze.run import ANALYSIS_TXT, read_analysis
    from crashd.analyze.text import clean, format_frame

    vm = (meta.get("sources") or {}).get("vmcore") or {}
    if not vm.get("file"):
        return []
    out: list[str] = []
    report = read_analysis(record)
    status = report.get("status") if report else None
    if report and status == "ok":
        crashed = report.get("crashed") or {}
        out.append(f"{'Backtrace'.rjust(width)}: symbolised by {clean(report.get('tool') or '?')} "
                   f"({ANALYSIS_TXT} has the rest)")
        out += [f"{'':>{width}}  {format_frame(i, f)}" for i, f in enumerate(crashed.get("frames") or [])]
        vmlinux = (report.get("debuginfo") or {}).get("vmlinux")
    elif report and status == "no-drgn":
        out.append(f"{'Analysis'.rjust(width)}: none; install {clean(report.get('install') or '?')}, "
                   f"then crashd analyze {record.name}")
        return out
    else:
        vmlinux = None
        if report and status == "failed":
            out.append(f"{'Analysis'.rjust(width)}: failed: {clean(report.get('error') or '?')}")
    if vmlinux is None:
        from crashd.analyze.debuginfo import NoDebugInfo, find_debuginfo
        from crashd.analyze.run import kernel_of

        try:  # looked up now: the debug info may have been installed since ingest said it was missing
            vmlinux = str(find_debuginfo(paths, kernel_of(record / str(vm["file"])), network=False).vmlinux)
        except NoDebugInfo as exc:
            if status == "no-debuginfo":
                out.append(f"{'Analysis'.rjust(width)}: none; install {clean(exc.hint)}, then crashd analyze {record.name}")
            else:
                out.append(f"{'Debug info'.rjust(width)}: not found; install {clean(exc.hint)}")
            return out
        if status == "no-debuginfo":
            out.append(f"{'Analysis'.rjust(width)}: not made yet; run crashd analyze {record.name}")
    argv = ["crash", vmlinux, str(record / str(vm["file"]))]
    out.append(f"{'Debug'.rjust(width)}: crashd debug {record.name}  ({clean(shlex.join(argv))})")
    return out
