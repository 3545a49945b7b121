"""``crashd status [--json]``: readiness, arming and the last arm, for people and scripts.

Exit status as ``kdumpctl status`` and LSB ``status``: 0 armed, 3 not armed,
4 armed, but a capture is expected to fail (``Readiness.degraded``), 1 when the
report itself could not be made.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crashd.cli import EXIT_DEGRADED, EXIT_NOT_ARMED, EXIT_OK, Context
from crashd.cli.output import add_json_option, print_json

__all__ = ["SYMBOLS", "add_arguments", "run"]

SYMBOLS = {"ok": "ok", "missing": "MISSING", "unknown": "unknown"}


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    parser.epilog = "exit status: 0 armed, 3 not armed, 4 armed, but a capture is expected to fail, 1 error"


def _arm_state(ctx: Context) -> dict[str, Any] | None:
    """What the daemon last recorded (``/run/crashd``), if it has run this boot."""
    try:
        from crashd.arm.armstate import read_state
    except ImportError:
        return None
    state = read_state(ctx.paths)
    if state is None:
        return None
    from dataclasses import asdict

    return asdict(state)


def _selftest(ctx: Context, config: Any, readiness: Any) -> Any:
    """The last ``crashd test --crash`` and whether it still vouches for this set-up."""
    from crashd.arm.selftest import fingerprint, selftest_status

    return selftest_status(ctx.paths, fingerprint(ctx.paths, config, readiness.boot_files, readiness.reserved_bytes))


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.arm.readiness import assess
    from crashd.core.config import read_config

    report = read_config(ctx.paths)
    readiness = assess(ctx.paths, ctx.tools, report.config)
    arm_state = _arm_state(ctx)
    selftest = _selftest(ctx, report.config, readiness)
    config_errors = [str(p) for p in report.errors]
    if args.json:
        print_json(
            {
                "armed": readiness.armed,
                "degraded": [c.name for c in readiness.degraded()] if readiness.armed else [],
                "ready": readiness.ready,
                "summary": readiness.summary(),
                "file_load_required": readiness.file_load_required,
                "file_load_auto": readiness.auto_file_load,
                "reserved_bytes": readiness.reserved_bytes,
                "checks": [c.to_dict() for c in readiness.checks],
                "arm_state": arm_state,
                "selftest": selftest.to_dict(),
                "config_errors": config_errors,
            },
            mode=args.json,
        )
    else:
        out = sys.stdout
        out.write(f"{readiness.summary()}\n")
        out.write(f"self-test: {selftest.text}\n\n")
        width = max(len(c.name) for c in readiness.checks)
        for c in readiness.checks:
            out.write(f"  {SYMBOLS[c.state]:<8} {c.name:<{width}}  {c.title}  [{c.reason}]\n")
            details = ", ".join(f"{k}={v}" for k, v in c.evidence.items() if v is not None and v != [])
            if details:
                out.write(f"  {'':<8} {'':<{width}}  read: {details}\n")
            if c.state != "ok" and c.hint:
                out.write(f"  {'':<8} {'':<{width}}  fix: {c.hint}\n")
        if arm_state:
            out.write("\nlast arm:\n")
            for key in ("armed", "since", "reason", "kernel", "initrd", "dtb", "cmdline", "file_load", "last_error"):
                if arm_state.get(key) not in (None, ""):
                    out.write(f"  {key}: {arm_state[key]}\n")
        for line in config_errors:
            print(f"crashd status: config: {line}", file=sys.stderr)
    if not readiness.armed:
        return EXIT_NOT_ARMED
    return EXIT_DEGRADED if readiness.degraded() else EXIT_OK
