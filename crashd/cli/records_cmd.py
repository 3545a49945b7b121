"""``crashd list``, ``crashd show ID``, ``crashd remove ID``: the crash records, as coredumpctl does for core dumps.

ID selects a record as :mod:`crashd.cli.select` says (name, unique prefix of the name
or id, ``last``, ``-1``, ``-2``, …); an unknown or ambiguous ID is an error (exit 1)
that lists the candidates. Every field shown is cleaned of control characters
(:func:`crashd.cli.output.clean`): a panic line is the crashed kernel's text.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crashd.cli import EXIT_OK, Context
from crashd.cli.output import add_json_option, clean, print_json, print_json_lines, print_table, text
from crashd.cli.timefmt import human
from crashd.core.errors import NotFoundError

__all__ = ["LIST_HEADER", "add_arguments", "list_arguments", "run"]

LIST_HEADER = ["TIME", "RECORD", "KIND", "KERNEL", "SIGNATURE", "COUNT", "VMCORE", "COMPLETE", "PANIC"]


def list_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of ``crashd list`` (one place, so new filters are one line each)."""
    from crashd.cli.filters import count_arg, when_arg

    parser.add_argument("--kind", metavar="KIND", help="only records of KIND: kdump, pstore, unclean-reset "
                        "(kdump+pstore records match both kdump and pstore)")
    parser.add_argument("--kernel", metavar="RELEASE", help="only records of this kernel release (a glob: '6.1*')")
    parser.add_argument("--signature", metavar="SIG", help="only records whose crash signature starts with SIG")
    parser.add_argument("--since", "-S", type=when_arg, metavar="TIME",
                        help="crashes at or after TIME: -2h, '2 days ago', yesterday, 2026-12-01 18:00, ISO 8601")
    parser.add_argument("--until", "-U", type=when_arg, metavar="TIME", help="crashes at or before TIME")
    parser.add_argument("-n", "--lines", type=count_arg, metavar="N", help="the newest N records only")
    parser.add_argument("-r", "--reverse", action="store_true", help="newest first")
    parser.add_argument("--no-legend", action="store_true", help="no column headings or hints (for scripts)")
    add_json_option(parser)
    from crashd.cli import fleet_list  # crashes of many machines: --journal, --spool

    fleet_list.add_list_arguments(parser)


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    if verb == "list":
        list_arguments(parser)
        return
    parser.add_argument("id", metavar="ID", help="record name, unique prefix of its name or id, last, or -1, -2, …")
    if verb == "show":
        add_json_option(parser)
    parser.epilog = "exit status: 0 ok, 1 no such record (unknown or ambiguous ID), 2 usage"


def _row(name: str, meta: dict[str, Any] | None) -> dict[str, Any]:
    """The summary coredumpctl-style listings show."""
    meta = meta or {}
    sources = meta.get("sources") or {}
    panic = meta.get("panic") or {}
    return {
        "name": name,
        "crash_time": meta.get("crash_time"),
        "kind": meta.get("kind"),
        "kernel": (meta.get("kernel") or {}).get("release"),
        "signature": meta.get("signature"),
        "panic_kind": panic.get("kind"),
        "message": panic.get("message"),
        # a capture that kept only dmesg.txt (a full target) has a vmcore source but no file
        "vmcore": bool((sources.get("vmcore") or {}).get("file")),
        "pstore": bool(sources.get("pstore")),
        "complete": meta.get("complete"),
        "readable": bool(meta),
    }


def _yes(value: object) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from crashd.cli import filters, fleet_list
    from crashd.ingest.store import list_records

    if fleet_list.wanted(args):
        return fleet_list.run_list(args, ctx)

    rows = [_row(r.name, r.metadata) for r in list_records(ctx.paths)]
    seen = filters.repeats(rows)
    for r in rows:
        r["repeats"] = seen.get(r["signature"]) if r["signature"] else None
    rows = filters.apply(rows, args)
    if args.json == "short":
        print_json_lines(rows)
        return EXIT_OK
    if args.json:
        print_json({"records": rows}, mode=args.json)
        return EXIT_OK
    if not rows:
        if not args.no_legend:
            print("No crash records.", file=sys.stderr)
        return EXIT_OK
    table = [
        [
            human(r["crash_time"]) if r["crash_time"] else r["name"][:15],
            r["name"],
            r["kind"] or "?",
            r["kernel"] or "-",
            r["signature"] or "-",
            "-" if r["repeats"] is None else str(r["repeats"]),
            _yes(r["vmcore"]),
            _yes(r["complete"]),
            (r["message"] or "-") if r["readable"] else "(metadata unreadable)",
        ]
        for r in rows
    ]

    def paint(y: int, x: int, cell: str) -> str:
        row = rows[y]
        if not row["readable"] or (x == 7 and row["complete"] is False):
            return ctx.colour.red(cell)
        return cell

    print_table(table, None if args.no_legend else LIST_HEADER, width=ctx.columns, shrink=8, paint=paint)
    return EXIT_OK


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.cli.select import resolve
    from crashd.ingest.store import read_metadata, remove_record

    if verb == "list":
        return _list(args, ctx)
    path = resolve(ctx.paths, args.id)
    if verb == "remove":
        try:
            remove_record(path)
        except FileNotFoundError:
            raise NotFoundError(f"{path.name}: already removed (by retention or another 'crashd remove')") from None
        print(f"removed {path.name}")
        _journal_removed(ctx, path.name)
        return EXIT_OK

    meta = read_metadata(path)
    if args.json:
        print_json({"record": path.name, "path": str(path), "metadata": meta}, mode=args.json)
        return EXIT_OK
    panic = meta.get("panic") or {}
    kernel = meta.get("kernel") or {}
    sources = meta.get("sources") or {}
    lines = [
        ("Record", path.name),
        ("Path", str(path)),
        ("Kind", meta.get("kind")),
        ("Complete", _yes(meta.get("complete"))),
        ("Crash time", human(meta.get("crash_time")) if meta.get("crash_time") else None),
        ("Ingested", human(meta.get("ingested_at")) if meta.get("ingested_at") else None),
        ("Boot ID", meta.get("crashed_boot_id")),
        ("Kernel", " ".join(str(v) for v in (kernel.get("release"), kernel.get("version")) if v) or None),
        ("Machine", kernel.get("machine")),
        ("Crash", panic.get("kind")),
        ("Message", panic.get("message")),
        (
            "CPU/PID",
            f"{text(panic.get('cpu'))} / {panic.get('pid')} ({text(panic.get('comm'), 'unknown')})"
            if panic.get("pid") is not None else None,
        ),
        ("PC", panic.get("pc_symbol") or panic.get("pc")),
        ("Taint", panic.get("taint")),
        ("Signature", meta.get("signature")),
    ]
    vm = sources.get("vmcore")
    if vm:
        if vm.get("file"):
            lines.append(("Dump", f"{vm['file']} ({text(vm.get('format'), 'unknown format')}, "
                                  f"complete: {_yes(vm.get('complete'))})"))
        elif vm.get("location"):
            lines.append(("Dump", f"on the dump server: {text(vm.get('location'))}"))
        else:
            lines.append(("Dump", "not kept (the capture saved only its dmesg.txt)"))
        lines += [("Warning", w) for w in vm.get("warnings") or []]
    for p in sources.get("pstore") or []:
        lines.append(
            ("pstore", f"{text(p.get('name'))} {text(p.get('reason'), 'unknown reason')} "
                       f"({text(p.get('backend'), 'unknown backend')}, {text(p.get('part_count'), '?')} part(s))")
        )
    unclean = sources.get("unclean") or {}  # an unclean-reset record (crashd.ingest.unclean)
    if unclean:
        lines += [("Unclean", unclean.get("summary")), ("Readiness", unclean.get("readiness")),
                  ("Journal", unclean.get("journal") or unclean.get("journal_note"))]
        lines += [("Possibly", r) for r in unclean.get("likely_reasons") or []]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        if value not in (None, ""):
            shown = text(value)
            if key in ("Complete", "Warning") and shown != "yes":
                shown = ctx.colour.red(shown) if key == "Complete" else ctx.colour.yellow(shown)
            print(f"{key.rjust(width)}: {shown}")
    trace = panic.get("call_trace") or []
    if trace:
        print(f"{'Call trace'.rjust(width)}:")
        for frame in trace:
            print(f"{'':>{width}}  {text(frame)}")
    from crashd.cli.analysis_show import show_lines  # issue 12/15: backtrace with source lines, debug command

    for line in show_lines(ctx.paths, path, meta, width):
        print(line)
    files = meta.get("files") or {}
    if files:
        print(f"{'Files'.rjust(width)}:")
        for name, info in files.items():
            print(f"{'':>{width}}  {clean(name)} ({text((info or {}).get('size'), '?')} bytes)")
    return EXIT_OK


def _journal_removed(ctx: Context, name: str) -> None:
    """A hand-run remove is evidence going away: journal it whenever there is a journal."""
    from crashd.core.journal import Journal

    Journal.detect(ctx.paths).event("record_removed", f"Crash record {name} removed (crashd remove)", priority=5,
                           record=name, reason="crashd remove")
