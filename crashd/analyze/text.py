"""``analysis.txt`` and what ``crashd show`` / ``crashd analyze`` print: the report for a person.

Every string in a report may come from the crashed kernel (task names, module names): each one
goes through :func:`clean` before it reaches a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["clean", "format_frame", "format_report", "format_trace", "human_bytes"]

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean(value: object) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_frame(index: int, frame: Mapping[str, Any]) -> str:
    """``#3  sysrq_handle_crash at drivers/tty/sysrq.c:155`` (``(inlined)`` for an inline frame)."""
    name = clean(frame.get("function") or frame.get("pc") or "?")
    where = f" at {clean(frame['file'])}:{frame['line']}" if frame.get("file") and frame.get("line") else ""
    inline = " (inlined)" if frame.get("inline") else ""
    return f"#{index:<2} {name}{where}{inline}"


def format_trace(bt: Mapping[str, Any] | None, indent: str = "  ") -> list[str]:
    if not bt:
        return []
    head = f"CPU {bt.get('cpu') if bt.get('cpu') is not None else '?'}, PID {bt.get('pid')} ({clean(bt.get('comm') or '?')})"
    return [head, *(indent + format_frame(i, f) for i, f in enumerate(bt.get("frames") or []))]


def format_report(report: Mapping[str, Any]) -> str:
    """The whole report as text (``analysis.txt``)."""
    status = report.get("status")
    kernel = report.get("kernel") or {}
    lines = [f"crashd analysis (schema {report.get('schema')}) of kernel {clean(kernel.get('release') or '?')}"
             f", build id {clean(kernel.get('build_id') or 'unknown')}"]
    if status in ("no-debuginfo", "no-drgn"):
        lines.append(f"No analysis: install {clean(report.get('install') or '?')}, then run crashd analyze.")
        return "\n".join(lines) + "\n"
    if status == "failed":
        lines.append(f"Analysis failed: {clean(report.get('error') or 'unknown error')}")
        return "\n".join(lines) + "\n"
    info = report.get("debuginfo") or {}
    lines.append(f"Made with {clean(report.get('tool') or '?')} from {clean(info.get('vmlinux') or '?')}"
                 + ("" if info.get("verified") else " (build id not verified: the dump carries none)")
                 + (f" in {report['seconds']} s" if report.get("seconds") is not None else ""))
    lines += ["", "Crashing task:"]
    lines += ["  " + line for line in format_trace(report.get("crashed"))] or ["  (not found)"]
    for bt in report.get("cpus") or []:
        lines += ["", "Other CPU:"] + ["  " + line for line in format_trace(bt)]
    fault = report.get("fault")
    if fault:
        lines += ["", f"Faulting address: {clean(fault.get('address'))}: {clean(fault.get('what') or 'not identified')}"]
    for bt in report.get("involved") or []:
        lines += ["", "Blocked task:"] + ["  " + line for line in format_trace(bt)]
    tasks = report.get("tasks") or []
    if tasks:
        shown = [t for t in tasks if t.get("state") in ("D", "R")] or tasks[:10]
        lines += ["", f"Tasks: {report.get('tasks_total')} ({len([t for t in tasks if t.get('state') == 'D'])} in D state, "
                      f"{len([t for t in tasks if t.get('state') == 'R'])} running)", "     PID ST CPU COMM"]
        lines += [f"  {t.get('pid'):>6} {clean(t.get('state'))}  {t.get('cpu') if t.get('cpu') is not None else '-':>3} "
                  f"{clean(t.get('comm'))}" for t in shown]
    taint = report.get("taint")
    if taint is not None:
        flags = taint.get("flags") or []
        lines += ["", f"Taint: {clean(taint.get('letters') or 'none')} ({taint.get('mask')})"]
        lines += [f"  {clean(f.get('letter'))}: {clean(f.get('meaning'))}" for f in flags]
    modules = report.get("modules") or []
    if modules:
        lines += ["", f"Modules: {len(modules)}"]
        lines += [f"  {clean(m.get('name')):<24} {human_bytes(m.get('size')):>10}  {clean(m.get('taint') or '')}"
                  for m in modules]
    mem = report.get("memory")
    if mem:
        lines += ["", f"Memory: {human_bytes(mem.get('total_bytes'))} total, {human_bytes(mem.get('free_bytes'))} free, "
                      f"slab {human_bytes(mem.get('slab_reclaimable_bytes'))} reclaimable + "
                      f"{human_bytes(mem.get('slab_unreclaimable_bytes'))} unreclaimable"]
        lines += [f"  {clean(c.get('name')):<24} {human_bytes(c.get('bytes')):>10}" for c in mem.get("top_slab_caches") or []]
    problems = report.get("problems") or []
    if problems:
        lines += ["", "Not analysed:"] + [f"  {clean(p)}" for p in problems]
    return "\n".join(lines) + "\n"
