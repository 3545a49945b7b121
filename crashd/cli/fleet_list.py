"""The fleet views of ``crashd list`` and ``crashd ingest``: crashes of many machines.

- ``crashd list --journal [--directory DIR]… [--file F]…``: every ``record_created``
  entry in those journals (a ``systemd-journal-remote`` collector's files; without
  either option, every journal of this machine, remote ones included), each crash
  with its host, then the count per signature across hosts.
- ``crashd list --spool DIR``: the captures in a dump server's spool, read in place.
- ``crashd ingest --spool DIR --store STORE``: one record per capture under
  ``STORE/<host>/``; the server's own ``/var/lib/crash`` is not touched.

An entry that cannot be used is one line on stderr and the rest is listed. Exit
status: 0 listed (also when some entries were skipped); 1 the journal or spool could
not be read at all, or (ingest) an entry was refused or failed; 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crashd.cli import EXIT_FAILURE, EXIT_OK, Context
from crashd.cli.output import print_json, print_table
from crashd.core.errors import UsageError

__all__ = ["add_ingest_arguments", "add_list_arguments", "run_ingest", "run_list", "wanted"]


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fleet views (many machines)")
    group.add_argument("--journal", action="store_true",
                       help="crashes of every machine in the journal (e.g. a systemd-journal-remote collector), "
                            "with counts per signature across hosts")
    group.add_argument("--directory", metavar="DIR", action="append", default=[],
                       help="with --journal: read the journal files in DIR (repeatable)")
    group.add_argument("--file", metavar="F", action="append", default=[],
                       help="with --journal: read the journal file F (repeatable; a glob is allowed)")
    group.add_argument("--spool", metavar="DIR",
                       help="the captures in a dump server's spool directory (PATH/crashd of ssh:// or nfs:// "
                            "targets), grouped by host")


def add_ingest_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dump server")
    group.add_argument("--spool", metavar="DIR",
                       help="make records of the captures of many machines in DIR (a dump server's spool); needs --store")
    group.add_argument("--store", metavar="STORE",
                       help="with --spool: where the records go, one directory per host (never /var/lib/crash "
                            "unless named)")


def wanted(args: argparse.Namespace) -> bool:
    """True when ``crashd list`` was asked for a fleet view."""
    return bool(getattr(args, "journal", False) or getattr(args, "directory", None)
                or getattr(args, "file", None) or getattr(args, "spool", None))


def run_list(args: argparse.Namespace, ctx: Context) -> int:
    from crashd.ingest.fleet_journal import read_journal

    if args.spool and (args.journal or args.directory or args.file):
        raise UsageError("--spool and --journal/--directory/--file are two different views; give one")
    if args.spool:
        from crashd.ingest.fleet_spool import scan_spool, spool_view

        view = spool_view(scan_spool(_absolute(args.spool)))
        source = f"the spool {args.spool}"
    else:
        view = read_journal(ctx.tools, ctx.paths, args.directory, args.file)
        source = "the journal"
    for problem in view.problems:
        print(f"crashd list: skipped {problem}" if not problem.startswith("journalctl:") else f"crashd list: {problem}",
              file=sys.stderr)
    if view.skipped > len([p for p in view.problems if not p.startswith("journalctl:")]):
        print(f"crashd list: {view.skipped} entries skipped in all", file=sys.stderr)
    if args.json:
        print_json(view.to_json(), mode=args.json)
        return EXIT_OK
    if not view.crashes:
        print(f"No crash records in {source}.", file=sys.stderr)
        return EXIT_OK
    spool = bool(args.spool)
    rows = [
        [c.time or "-", c.host or (f"machine-{c.machine_id[:8]}" if c.machine_id else "?"), c.record,
         c.kind or "?", c.kernel or "-", c.signature or "-",
         ("yes" if c.complete else "no") if c.complete is not None else "-", c.panic or "-"]
        for c in view.crashes
    ]
    print_table(rows, ["TIME", "HOST", "CAPTURE" if spool else "RECORD", "KIND", "KERNEL", "SIGNATURE",
                       "COMPLETE", "PANIC"])
    print()
    sigs = view.signatures()
    print_table([[g["signature"] or "-", str(g["count"]), str(g["host_count"]), g["last"] or "-",
                  ", ".join(g["hosts"]), g["panic"] or "-"] for g in sigs],
                ["SIGNATURE", "CRASHES", "HOSTS", "LAST", "ON", "PANIC"])
    print(f"\n{len(view.crashes)} crash(es) on {len(view.hosts())} host(s), {len(sigs)} signature(s)")
    return EXIT_OK


def run_ingest(args: argparse.Namespace, ctx: Context) -> int:
    from crashd.ingest.fleet_spool import ingest_spool, scan_spool

    if not args.spool:
        raise UsageError("--store goes with --spool DIR (a dump server's captures)")
    if not args.store:
        raise UsageError("--spool needs --store STORE: records of other machines do not go into this "
                         "machine's /var/lib/crash unless it is named")
    scan = scan_spool(_absolute(args.spool))
    result = ingest_spool(scan, _absolute(args.store))
    for name in result.created:
        print(f"created {name}")
    for line in scan.pending:
        print(f"crashd ingest: {line}", file=sys.stderr)
    for problem in result.problems:
        print(f"crashd ingest: skipped {problem}", file=sys.stderr)
    print(f"{len(result.created)} new record(s), {result.known} already recorded, "
          f"{len(result.problems)} skipped", file=sys.stderr)
    return EXIT_FAILURE if result.problems else EXIT_OK


def _absolute(value: str) -> Path:
    return Path(value).absolute()
