"""``crashd save``: save /proc/vmcore to ``[capture] target`` (run in the capture kernel).

Exit status without ``--act``: 0 a complete dump was saved, 1 it was not (dmesg
only, or nothing), 3 there is no /proc/vmcore (not a capture kernel).

With ``--act`` (what crashd-save.service runs) the command ends by requesting
``[capture] final_action`` after a complete save, ``failure_action`` otherwise,
and exits 0 once systemd accepted that request — the save's own result is in
capture.json, on the console and in the journal (``saved`` / ``save_failed``).
It exits 1 only when no action could be requested, so that the unit's
``FailureAction=reboot-force`` takes over.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from crashd.cli import EXIT_FAILURE, EXIT_NOT_ARMED, EXIT_OK, Context
from crashd.cli.output import add_json_option

__all__ = ["add_arguments", "log", "run"]

log = logging.getLogger(__name__)


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--act", action="store_true", help="request final_action / failure_action at the end (the unit uses this)")
    parser.add_argument("--target", help="override [capture] target (a directory, UUID=, LABEL= or /dev/…)")
    parser.add_argument("--collector", choices=("auto", "makedumpfile", "copy"), help="override [capture] collector")
    add_json_option(parser, "print capture.json (plus its directory) on stdout")
    parser.epilog = "exit status: 0 complete dump saved, 1 not saved (or, with --act, no action possible), 3 no /proc/vmcore"


def _capture_config(ctx: Context, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The [capture] settings; a broken file must not cost the evidence: bad keys
    keep their defaults and every problem is printed."""
    from crashd.core.config import read_config
    from crashd.core.settings import CaptureConfig

    try:
        report = read_config(ctx.paths)
        config: CaptureConfig = report.config.capture
        for problem in report.errors:
            print(f"crashd save: config problem (default used): {problem}", flush=True)
    except Exception as exc:  # noqa: BLE001 - unreadable config: fall back to defaults
        from crashd.core.config import default_config

        print(f"crashd save: config unreadable ({exc}); using defaults", flush=True)
        config = default_config().capture
    overrides = {k: v for k, v in (("target", args.target), ("collector", args.collector)) if v}
    return dataclasses.replace(config, **overrides)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    if not ctx.paths.vmcore.exists():
        print(f"crashd save: {ctx.paths.unhost(ctx.paths.vmcore)} does not exist: not running in a capture kernel", file=sys.stderr)
        return EXIT_NOT_ARMED
    config = _capture_config(ctx, args)
    complete = False
    try:
        complete = _save(ctx, config, args)
    except Exception as exc:  # noqa: BLE001 - with --act the machine must still leave the capture kernel
        if not args.act:
            raise
        log.exception("save crashed")
        print(f"crashd save: error: save crashed: {type(exc).__name__}: {exc}", flush=True)
    if not args.act:
        return EXIT_OK if complete else EXIT_FAILURE
    from crashd.capture.actions import perform_or_report

    action = config.final_action if complete else config.failure_action
    ok, line = perform_or_report(action, ctx.tools)
    print(f"crashd save: {line}", flush=True)
    return EXIT_OK if ok else EXIT_FAILURE


def _save(ctx: Context, config, args: argparse.Namespace) -> bool:  # type: ignore[no-untyped-def]
    from crashd.capture.save import Saver
    from crashd.core.journal import Journal
    from crashd.core.notify import Notifier

    notifier = Notifier.from_env()
    # The console must get our lines even when stdout is a pipe (--json): use stderr then.
    console = sys.stderr if args.json else sys.stdout
    outcome = Saver(ctx.paths, ctx.tools, config, notifier=notifier, console=console).run()
    rec = outcome.record
    where = str(outcome.directory) if outcome.directory else config.target
    journal = Journal.detect(ctx.paths)
    if outcome.complete:
        journal.event(
            "saved",
            f"crash dump saved to {where} ({rec['collector']}, {rec['bytes_written']} bytes, {rec['seconds']} s)",
            priority=5,
            directory=where,
            collector=rec["collector"],
            dump_level=rec["dump_level"],
            bytes=rec["bytes_written"],
            crashed_boot_id=rec["crashed_boot_id"],
        )
    else:
        journal.event(
            "save_failed",
            f"crash dump NOT saved completely to {where}: {'; '.join(outcome.errors) or 'unknown reason'}",
            priority=3,
            directory=where,
            dmesg=rec.get("dmesg"),
            crashed_boot_id=rec.get("crashed_boot_id"),
        )
    verdict = "saved" if outcome.complete else "NOT saved completely" + (" (dmesg kept)" if rec.get("dmesg") else "")
    print(f"crashd save: {verdict}: {where}", file=console, flush=True)
    notifier.status(f"{verdict}: {where}")
    if args.json:
        from crashd.cli.output import print_json

        print_json({"directory": str(outcome.directory) if outcome.directory else None, "capture": rec}, mode=args.json)
    return outcome.complete
