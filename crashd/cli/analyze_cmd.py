"""``crashd analyze ID``: the triage report of a record's dump, made with drgn and the kernel's debug info.

For a record the report is (re)written into it (a failed analysis leaves the record as it was) as ``analysis.json`` and ``analysis.txt``; for a
dump file (``crashd analyze PATH --debuginfo DIR``, e.g. a dump from another machine) it is only
printed. The dump is opened read-only. Exit status: 0 a report was made (parts that could not be
read are listed in it); 3 no debug info or no drgn (one line says what to install); 1 failure;
2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crashd.cli import EXIT_FAILURE, EXIT_NOT_ARMED, EXIT_OK, Context

__all__ = ["add_arguments", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="record name, a unique prefix of it, or a dump file")
    parser.add_argument("--debuginfo", action="append", default=[], metavar="DIR", type=Path,
                        help="look for the debug vmlinux (and lib/modules/RELEASE/) in DIR first")
    from crashd.cli.output import add_json_option

    add_json_option(parser, "print analysis.json instead of the text")
    parser.add_argument("--quiet", action="store_true", help="print nothing (write the record's files only)")
    parser.add_argument("--no-network", action="store_true", help="never ask debuginfod")
    parser.epilog = "exit status: 0 analysed; 1 failure; 2 usage; 3 no debug info or no drgn (says what to install)"


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.analyze.run import make_report, write_analysis
    from crashd.analyze.text import format_report
    from crashd.cli.dumpref import resolve_dump
    from crashd.cli.output import print_json
    from crashd.core.config import default_config, read_config

    ref = resolve_dump(ctx.paths, args.id)
    try:
        config = read_config(ctx.paths).config
    except Exception:  # noqa: BLE001 - a broken config must not stop an analysis by hand
        config = default_config()
    panic = ref.meta.get("panic") or {}
    dmesg = ""
    if ref.record is not None:
        from crashd.core.errors import UnsafePathError
        from crashd.core.fsutil import read_regular

        try:
            dmesg = read_regular(ref.record / "dmesg.txt", 64 << 20).decode(errors="replace")
        except (OSError, UnsafePathError):
            dmesg = ""
    report = make_report(ctx.paths, config.analyze, ref.dump, extra=args.debuginfo, network=not args.no_network,
                         kind=panic.get("kind"), dmesg=dmesg, tools=ctx.tools)
    if ref.record is not None:
        from crashd.analyze.run import read_analysis

        previous = read_analysis(ref.record)
        # a failed analysis leaves the record as it was; a report made with debug info is not
        # replaced by "install the debug info" from a run without it
        if report["status"] == "ok" or (report["status"] != "failed" and (not previous or previous.get("status") != "ok")):
            write_analysis(ref.record, report)
    if report["status"] == "failed":
        print(f"crashd analyze: analysis failed: {report['error']}", file=sys.stderr)
        return EXIT_FAILURE
    if report["status"] != "ok":
        print(f"crashd analyze: no analysis: install {report['install']}", file=sys.stderr)
        for problem in report["problems"]:
            print(f"crashd analyze: {problem}", file=sys.stderr)
        return EXIT_NOT_ARMED
    if args.quiet:
        return EXIT_OK
    if args.json:
        print_json({"analysis": report}, mode=args.json)
    else:
        sys.stdout.write(format_report(report))
    return EXIT_OK
