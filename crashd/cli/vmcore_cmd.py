"""``crashd dmesg`` and ``crashd inspect``: read a vmcore (or a crash record) without vmlinux.

``dmesg ARG``: ARG is a vmcore file, a crash record / spool directory (its ``dmesg.txt``,
else its dump), or a record ID resolved through the record store.
``inspect PATH``: format, kernel, CPUs, completeness and the crash summary.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from crashd.cli import EXIT_FAILURE, EXIT_OK, Context
from crashd.cli.output import add_json_option
from crashd.core.errors import CrashdError, NotFoundError, UnsafePathError, VmcoreError
from crashd.core.fsutil import read_regular

MAX_SIDECAR = 64 << 20  # a record's dmesg.txt / metadata.json; larger is not ours

DUMP_NAMES = ("vmcore", "vmcore.kdump", "vmcore.flat")

DMESG_EPILOG = (
    "exit status: 0 the log was printed (from a truncated or incomplete dump it may be partial:"
    " warnings go to stderr); 1 no log could be read (not a vmcore, ring unreadable, unknown record);"
    " 2 usage"
)
INSPECT_EPILOG = (
    "exit status: 0 the dump was read — also when it is truncated or incomplete, which is reported"
    " as complete=false with warnings (and when its log is unreadable); 1 not a vmcore or unreadable; 2 usage"
)


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if verb == "dmesg":
        parser.add_argument("target", metavar="ARG", help="vmcore file, crash record directory, or record ID")
        parser.add_argument(
            "--style",
            choices=("vmcore-dmesg", "dmesg"),
            default="vmcore-dmesg",
            help="vmcore-dmesg (default: byte-identical to vmcore-dmesg) or dmesg (timestamp on every line)",
        )
        parser.epilog = DMESG_EPILOG
    else:
        parser.add_argument("path", metavar="PATH", help="vmcore file (ELF, kdump-compressed or flattened)")
        add_json_option(parser)
        parser.epilog = INSPECT_EPILOG


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    if verb == "dmesg":
        return _dmesg(args, ctx)
    return _inspect(args)


# ------------------------------------------------------------------------- dmesg


def _warn(verb: str, lines: list[str]) -> None:
    for line in lines:
        print(f"crashd {verb}: warning: {line}", file=sys.stderr)


def _dump_in(directory: Path) -> Path | None:
    for name in DUMP_NAMES:
        p = directory / name
        if p.is_file() or p.is_symlink():  # a planted symlink is refused when opened
            return p
    return None


def _read_nofollow(path: Path) -> bytes | None:
    """The file's bytes, or None if absent; a symlink is refused (record dirs are untrusted)."""
    try:
        return read_regular(path, MAX_SIDECAR)
    except FileNotFoundError:
        return None
    except UnsafePathError as exc:
        raise VmcoreError(str(exc)) from exc
    except OSError as exc:
        raise VmcoreError(f"{path}: {exc.strerror or exc}") from exc


def _resolve(target: str, ctx: Context) -> Path:
    p = Path(target)
    if p.exists():
        return p
    try:
        from crashd.cli.select import resolve
    except ImportError:
        raise NotFoundError(f"{target}: no such file, and the record store is not available to resolve IDs") from None
    return resolve(ctx.paths, target)


def _coloured_text(saved: str, ctx: Context) -> str:
    from crashd.cli.colour import dmesg_line_level
    from crashd.cli.output import clean

    return "".join(ctx.colour.dmesg(dmesg_line_level(line), clean(line.rstrip("\n"))) + "\n"
                   for line in saved.splitlines(keepends=True))


def _coloured_log(d: Any, style: str, ctx: Context) -> str:
    """The log as ``dmesg --color`` shows it: each record in its level's colour."""
    from crashd.vmcore.render import render

    return "".join(ctx.colour.dmesg(r.level, render([r], style).rstrip("\n")) + "\n" for r in d.log_records())


def _dmesg(args: argparse.Namespace, ctx: Context) -> int:
    path = _resolve(args.target, ctx)
    nofollow = False
    if path.is_dir():
        saved = _read_nofollow(path / "dmesg.txt")
        if saved is not None:
            if ctx.colour.enabled:  # only a pstore log keeps its <N> levels in the text
                sys.stdout.write(_coloured_text(saved.decode("utf-8", "replace"), ctx))
            else:
                sys.stdout.buffer.write(saved)
            return EXIT_OK
        dump = _dump_in(path)
        if dump is None:
            raise NotFoundError(f"{path}: no dmesg.txt and no vmcore in this directory")
        path, nofollow = dump, True
    from crashd.vmcore import open_dump

    with open_dump(path, nofollow=nofollow) as d:
        try:
            text = _coloured_log(d, args.style, ctx) if ctx.colour.enabled else d.dmesg_text(args.style)
        except VmcoreError as exc:
            _warn("dmesg", d.warnings)
            raise VmcoreError(f"{path}: no kernel log: {exc}") from exc
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except BrokenPipeError:  # `crashd dmesg x | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_OK
        _warn("dmesg", d.warnings)
    return EXIT_OK


# ------------------------------------------------------------------------- inspect


def inspect_report(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Everything ``inspect`` shows, as a JSON-ready dict (also used by tests)."""
    from crashd.vmcore import open_dump

    with open_dump(path) as d:
        log_text: str | None = None
        log_error: str | None = None
        try:
            log_text = d.dmesg_text()
        except CrashdError as exc:
            log_error = str(exc)
        uts_problem = d.uts_check() if log_error is None else None
        summary: dict[str, Any] | None = None
        if log_text is not None:
            try:
                from crashd.crashlog.summary import summarize
            except ImportError:
                summary = None
                d.warnings.append("crash summary unavailable (crashd.crashlog.summary missing)")
            else:
                s = summarize(log_text, d.cpus)
                # The PRSTATUS note of the crashing task, when exactly one note has its PID.
                notes = [c.cpu for c in d.cpus if s.pid is not None and c.pid == s.pid]
                summary = {**s.to_dict(), "signature": s.signature, "trigger": s.trigger,
                           "timestamp": s.timestamp, "warnings": list(s.warnings),
                           "note": notes[0] if len(notes) == 1 else None}
        warnings = list(d.warnings)
        if uts_problem:
            warnings.append(uts_problem)
        if log_error:
            warnings.append(f"dmesg unavailable: {log_error}")
        return {
            "path": os.fspath(path),
            "format": d.format,
            "kernel_release": d.kernel_release,
            "machine": d.machine,
            "page_size": d.page_size,
            "crash_time": d.crash_time,
            "kaslr_offset": None if d.kaslr_offset is None else f"{d.kaslr_offset:#x}",
            "build_id": d.vmcoreinfo.build_id,
            "cpus": [{**c.to_dict(), "pc_symbol": None if c.user_mode else d.symbolize(c.pc)} for c in d.cpus],
            "complete": d.complete,
            "log_records": None if log_text is None else len(d.log_records()),
            "crash": summary,
            "warnings": warnings,
        }


def _inspect(args: argparse.Namespace) -> int:
    report = inspect_report(args.path)
    if args.json:
        from crashd.cli.output import print_json

        print_json(report, mode=args.json)
        return EXIT_OK
    out = sys.stdout
    crash_time = report["crash_time"]
    when = "unknown"
    if crash_time is not None:
        from crashd.cli.timefmt import human

        when = f"{human(crash_time)}, {crash_time}"
    rows = [
        ("file", report["path"]),
        ("format", report["format"]),
        ("kernel", f"{report['kernel_release'] or 'unknown'} ({report['machine']})"),
        ("page size", str(report["page_size"] or "unknown")),
        ("crash time", when),
        ("KASLR offset", report["kaslr_offset"] or "none"),
        ("complete", "yes" if report["complete"] else "NO"),
        ("log records", "unreadable" if report["log_records"] is None else str(report["log_records"])),
    ]
    for cpu in report["cpus"]:
        mode = " user" if cpu["user_mode"] else ""
        sym = f" ({cpu['pc_symbol']})" if cpu["pc_symbol"] else ""
        rows.append((f"cpu note {cpu['cpu']}", f"pid {cpu['pid']} pc {cpu['pc']}{sym} sp {cpu['sp']}{mode}"))
    crash = report["crash"]
    if crash:
        rows += [
            ("crash kind", crash["kind"]),
            ("message", crash["message"] or "-"),
            ("crashing CPU", ("-" if crash["cpu"] is None else str(crash["cpu"]))
             + ("" if crash["note"] is None else f" (cpu note {crash['note']})")),
            ("PID / comm", f"{crash['pid'] if crash['pid'] is not None else '-'} {crash['comm'] or ''}".rstrip()),
            ("PC", crash["pc_symbol"] or crash["pc"] or "-"),
            ("taint", "-" if crash["taint"] is None else (crash["taint"] or "not tainted")),
            ("signature", crash["signature"] or "-"),
        ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        out.write(f"{k + ':':<{width + 1}} {v}\n")
    if crash and crash["call_trace"]:
        out.write("call trace:\n")
        for frame in crash["call_trace"]:
            out.write(f"  {frame}\n")
    for w in report["warnings"]:
        out.write(f"warning: {w}\n")
    return EXIT_OK


__all__ = ["EXIT_FAILURE", "add_arguments", "inspect_report", "run"]
