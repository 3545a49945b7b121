"""``analysis.json``, schema 1: the drgn triage report of one dump, as a program reads it.

``status`` says what the file is: ``ok`` (a report; parts that failed are listed in
``problems``), ``no-debuginfo`` or ``no-drgn`` (no report; ``install`` names what would enable
one), ``failed`` (the analysis ran and stopped: ``error``). Optional values are ``None``.
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "ANALYSIS_SCHEMA",
    "Analysis",
    "Backtrace",
    "Frame",
    "Memory",
    "ModuleRow",
    "TaintFlag",
    "STATUSES",
    "TaskRow",
    "empty",
    "validate",
]

ANALYSIS_SCHEMA = 1
STATUSES = ("ok", "no-debuginfo", "no-drgn", "failed")


class Frame(TypedDict):
    function: str | None  # None: no symbol (e.g. a user-space return address)
    file: str | None
    line: int | None
    inline: bool  # an inlined call, sharing the pc of the frame below it
    pc: str  # hex
    symbol: str | None  # name+0xoff of the containing symbol


class Backtrace(TypedDict):
    cpu: int | None
    pid: int | None
    comm: str | None
    frames: list[Frame]


class TaskRow(TypedDict):
    pid: int
    state: str  # ps letter: R, D, S, I, T, Z, …
    comm: str
    cpu: int | None


class ModuleRow(TypedDict):
    name: str
    size: int | None
    taint: str  # module taint letters, "" when clean
    debuginfo: bool  # its debug file was found and loaded


class TaintFlag(TypedDict):
    letter: str
    meaning: str


class Memory(TypedDict):
    total_bytes: int | None
    free_bytes: int | None
    slab_reclaimable_bytes: int | None
    slab_unreclaimable_bytes: int | None
    top_slab_caches: list[dict[str, Any]]  # {name, bytes, objects}


class Analysis(TypedDict):
    schema: int
    status: str
    tool: str | None  # "drgn 0.3.0"
    kernel: dict[str, Any]  # {release, build_id}
    debuginfo: dict[str, Any] | None  # {vmlinux, how, verified}
    install: str | None  # what would enable the analysis (no-debuginfo, no-drgn)
    error: str | None
    seconds: float | None
    crashed: Backtrace | None
    cpus: list[Backtrace]
    tasks: list[TaskRow]  # D-state and running first
    tasks_total: int | None
    involved: list[Backtrace]  # hung-task / lockup kinds: the stacks of D-state tasks
    modules: list[ModuleRow]
    taint: dict[str, Any] | None  # {mask, flags: [TaintFlag]}
    memory: Memory | None
    fault: dict[str, Any] | None  # an oops: {address, what}
    top_frames: list[str]  # the first symbolised frames of the crash, past the panic machinery
    problems: list[str]


_TYPES: dict[str, tuple[type, ...]] = {
    "schema": (int,), "status": (str,), "tool": (str, type(None)), "kernel": (dict,),
    "debuginfo": (dict, type(None)), "install": (str, type(None)), "error": (str, type(None)),
    "seconds": (float, int, type(None)), "crashed": (dict, type(None)), "cpus": (list,), "tasks": (list,),
    "tasks_total": (int, type(None)), "involved": (list,), "modules": (list,), "taint": (dict, type(None)),
    "memory": (dict, type(None)), "fault": (dict, type(None)), "top_frames": (list,), "problems": (list,),
}
_FRAME: dict[str, tuple[type, ...]] = {
    "function": (str, type(None)), "file": (str, type(None)), "line": (int, type(None)), "inline": (bool,),
    "pc": (str,), "symbol": (str, type(None)),
}


def validate(data: object) -> list[str]:
    """Every way ``data`` differs from schema 1 (empty: valid)."""
    if not isinstance(data, dict):
        return ["not a JSON object"]
    errors = [f"missing {k}" for k in _TYPES if k not in data]
    errors += [f"unknown key {k}" for k in data if k not in _TYPES]
    for key, types in _TYPES.items():
        if key in data and not isinstance(data[key], types):
            errors.append(f"{key}: {type(data[key]).__name__}, expected {'/'.join(t.__name__ for t in types)}")
    if data.get("schema") != ANALYSIS_SCHEMA:
        errors.append(f"schema {data.get('schema')!r}, expected {ANALYSIS_SCHEMA}")
    if data.get("status") not in STATUSES:
        errors.append(f"status {data.get('status')!r} not one of {', '.join(STATUSES)}")
    traces = [data.get("crashed"), *(data.get("cpus") or []), *(data.get("involved") or [])]
    for bt in traces:
        if bt is None:
            continue
        if not isinstance(bt, dict) or not isinstance(bt.get("frames"), list):
            errors.append("a backtrace without frames")
            continue
        for frame in bt["frames"]:
            if not isinstance(frame, dict) or set(frame) != set(_FRAME):
                errors.append(f"bad frame {frame!r}")
                continue
            errors += [f"frame {k}: {frame[k]!r}" for k, t in _FRAME.items() if not isinstance(frame[k], t)]
    if data.get("status") == "ok" and data.get("crashed") is None and not data.get("problems"):
        errors.append("status ok without a crashed-task backtrace or a problem saying why")
    return errors


def empty(status: str, kernel: dict[str, Any]) -> Analysis:
    """A report with nothing in it yet."""
    return Analysis(schema=ANALYSIS_SCHEMA, status=status, tool=None, kernel=kernel, debuginfo=None, install=None,
                    error=None, seconds=None, crashed=None, cpus=[], tasks=[], tasks_total=None, involved=[],
                    modules=[], taint=None, memory=None, fault=None, top_frames=[], problems=[])

