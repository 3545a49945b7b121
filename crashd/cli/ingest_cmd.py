"""``crashd ingest``: turn pstore records and saved dumps into crash records.

Run by crashd-ingest.service once per boot. Exit status: 0 done (nothing new is
fine), 1 a problem (full disk, a planted symlink, a mount failure) — whatever
could be stored was stored, and pstore entries are only removed once stored.

Under systemd (``Type=notify``) it sends ``READY=1`` as soon as every pstore entry
has been read into memory: the unit is ordered before systemd-pstore.service and
sysinit.target only for that, and the boot goes on while dumps (which may need a
copy of gigabytes) are turned into records.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from crashd.cli import EXIT_FAILURE, EXIT_OK, Context

if TYPE_CHECKING:
    from crashd.core.journal import Journal
    from crashd.core.settings import Config

__all__ = ["add_arguments", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.epilog = "exit status: 0 ok, 1 failure"
    from crashd.cli import fleet_list  # --spool DIR --store STORE: a dump server's captures

    fleet_list.add_ingest_arguments(parser)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.core.errors import CrashdError
    from crashd.core.journal import Journal
    from crashd.core.notify import Notifier
    from crashd.ingest.printable import printable
    from crashd.ingest.run import ingest

    if args.spool or args.store:
        from crashd.cli import fleet_list

        return fleet_list.run_ingest(args, ctx)
    config, config_ok = _config(ctx)
    journal = Journal.detect()
    notifier = Notifier.from_env()
    ready = False

    def pstore_read() -> None:
        nonlocal ready
        if not ready:
            ready = True
            notifier.send("READY=1", "STATUS=pstore read; ingesting saved dumps")

    try:
        result = ingest(ctx.paths, config, journal, ctx.tools, pstore_read=pstore_read)
    except CrashdError as exc:
        journal.event("ingest_failed", f"crash ingest failed: {exc}", priority=3)
        raise
    except OSError as exc:  # e.g. a read-only /var/lib: one clear line, nothing lost (pstore is unlinked last)
        where = f"{exc.filename}: " if exc.filename else ""
        error = CrashdError(f"{where}{exc.strerror or exc}")
        journal.event("ingest_failed", f"crash ingest failed: {error}", priority=3)
        raise error from exc
    finally:
        pstore_read()  # a run that failed before reading pstore must not hold up the boot
    notifier.send(f"STATUS={len(result.created)} new crash record(s), {len(result.removed)} pruned"
                  + (f", {len(result.problems)} problem(s)" if result.problems else ""))
    for name in result.created:
        print(f"created {name}")
    try:
        _analyse(ctx, config, journal, result.created)
    except Exception as exc:  # noqa: BLE001 - the records are written: analysis never fails ingest
        journal.event("analysis_failed", f"crash analysis not run: {type(exc).__name__}: {exc}", priority=4)
    for name in result.removed:
        print(f"removed {name} (retention)")
    for problem in result.problems:  # names and reasons may hold what the crashed kernel wrote
        print(f"crashd ingest: {printable(problem, 4096)}", file=sys.stderr)
    if result.problems or not config_ok:  # each failed source already has its own ingest_failed event
        return EXIT_FAILURE
    return EXIT_OK


def _config(ctx: Context) -> tuple[Config, bool]:
    """The configuration; a typo must not leave the crash unrecorded: as ``save`` and the
    daemon do, a bad setting keeps its default, an unreadable file gives the defaults,
    and each problem is said (the exit status is then 1, after ingesting)."""
    from crashd.core.config import default_config, read_config

    try:
        report = read_config(ctx.paths)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with the file, ingest runs
        print(f"crashd ingest: config unreadable ({exc}); using the defaults", file=sys.stderr)
        return default_config(), False
    for problem in report.errors:
        print(f"crashd ingest: config problem (default used): {problem}", file=sys.stderr)
    return report.config, not report.errors


def _analyse(ctx: Context, config: Config, journal: Journal, created: list[str]) -> None:
    """[analyze] on_ingest, after every record is written: a failure is one journal line."""
    import logging

    from crashd.analyze.run import at_ingest
    from crashd.cli.dumpref import NoDumpError, resolve_dump
    from crashd.core.errors import CrashdError

    for name in created:
        try:
            dump = resolve_dump(ctx.paths, name).dump
        except NoDumpError:
            continue
        except (CrashdError, OSError) as exc:
            journal.event("analysis_failed", f"{name}: not analysed: {exc}", priority=4, record=name)
            continue
        record = ctx.paths.crash_store / name

        def failed(message: str, record_name: str = name) -> None:
            journal.event("analysis_failed", message, priority=4, record=record_name)

        try:
            line = at_ingest(ctx.paths, config.analyze, ctx.tools, record, dump, failed)
        except Exception as exc:  # noqa: BLE001 - the records are written; analysis never fails ingest
            failed(f"{name}: analysis failed: {type(exc).__name__}: {exc}")
            continue
        if line:  # a log line (stderr, the journal under systemd): stdout lists the records made
            logging.getLogger("crashd.analyze").info("%s", line)
