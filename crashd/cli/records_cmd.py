"""``crashd list``, ``crashd show ID``, ``crashd remove ID``: the crash records, as coredumpctl does for core dumps.

ID is a record name or a unique prefix of one; an unknown or ambiguous ID is an
error (exit 1) that says which. Every field shown is cleaned of control characters
(:func:`crashd.cli.output.clean`): a panic line is the crashed kernel's text.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crashd.cli import EXIT_OK, Context
from crashd.cli.output import clean, print_json, print_table, text
from crashd.core.errors import NotFoundError

__all__ = ["add_arguments", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    if verb in ("show", "remove"):
        parser.add_argument("id", metavar="ID", help="record name or a unique prefix of it")
    if verb in ("list", "show"):
        parser.add_argument("--json", action="store_true", help="machine-readable output")


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


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.ingest.store import list_records, read_metadata, remove_record, resolve_record

    if verb == "list":
        rows = [_row(r.name, r.metadata) for r in list_records(ctx.paths)]
        if args.json:
            print_json({"records": rows})
            return EXIT_OK
        if not rows:
            print("No crash records.", file=sys.stderr)
            return EXIT_OK
        table = [
            [
                r["crash_time"] or r["name"][:15],
                r["name"],
                r["kind"] or "?",
                r["kernel"] or "-",
                r["signature"] or "-",
                _yes(r["vmcore"]),
                _yes(r["pstore"]),
                _yes(r["complete"]),
                (r["message"] or "-") if r["readable"] else "(metadata unreadable)",
            ]
            for r in rows
        ]
        print_table(table, ["TIME", "RECORD", "KIND", "KERNEL", "SIGNATURE", "VMCORE", "PSTORE", "COMPLETE", "PANIC"])
        return EXIT_OK

    path = resolve_record(ctx.paths, args.id)
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
        print_json({"record": path.name, "path": str(path), "metadata": meta})
        return EXIT_OK
    panic = meta.get("panic") or {}
    kernel = meta.get("kernel") or {}
    sources = meta.get("sources") or {}
    lines = [
        ("Record", path.name),
        ("Path", str(path)),
        ("Kind", meta.get("kind")),
        ("Complete", _yes(meta.get("complete"))),
        ("Crash time", meta.get("crash_time")),
        ("Ingested", meta.get("ingested_at")),
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
            print(f"{key.rjust(width)}: {text(value)}")
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
