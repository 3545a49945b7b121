"""``crashd status [--json] [--verbose]``: readiness, arming and the last arm, for people and scripts.

For a person the verdict comes first (one line, the same as ``STATUS=``), then the
self-test, the loaded kexec command and since when, and the checks that are not ok
with their fix; ``--verbose`` adds every check with what it read.

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
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="every check with what it read, and the whole last arm")
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
        _print_text(ctx, readiness, selftest.text, arm_state, args.verbose)
        for line in config_errors:
            print(f"crashd status: config: {line}", file=sys.stderr)
    if not readiness.armed:
        return EXIT_NOT_ARMED
    return EXIT_DEGRADED if readiness.degraded() else EXIT_OK


def _print_text(ctx: Context, readiness: Any, selftest: str, arm_state: dict[str, Any] | None, verbose: bool) -> None:
    """The verdict on the first line, then the self-test, the load and the checks that are not
    ok; ``--verbose``: every check with its evidence, and the whole last arm."""
    from crashd.cli.timefmt import human, humanize_text

    out, colour = sys.stdout, ctx.colour
    summary = readiness.summary()
    paint = colour.red if not readiness.armed else colour.yellow if readiness.degraded() else str
    out.write(f"{paint(summary)}\nself-test: {humanize_text(selftest)}\n")
    if arm_state and arm_state.get("armed"):
        command = " ".join(arm_state.get("argv") or []) or "(command not recorded)"
        out.write(f"kexec: {command}\n  loaded since {human(arm_state.get('since'))}"
                  f" ({arm_state.get('reason') or 'reason not recorded'})\n")
    elif readiness.armed:
        out.write("kexec: a capture kernel is loaded, but not by crashd (no arm state this boot)\n")
    elif arm_state:
        out.write(f"kexec: not loaded since {human(arm_state.get('since'))}"
                  f" ({arm_state.get('reason') or 'reason not recorded'})\n")
    counts = {state: sum(c.state == state for c in readiness.checks) for state in SYMBOLS}
    out.write("checks: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n or state == "ok") + "\n")
    shown = [c for c in readiness.checks if verbose or c.state != "ok"]
    if shown:
        out.write("\n")
    width = max((len(c.name) for c in shown), default=0)
    for c in shown:
        out.write(f"  {colour.state(f'{SYMBOLS[c.state]:<8}', c.state)} {c.name:<{width}}  {c.title}  [{c.reason}]\n")
        details = ", ".join(f"{k}={v}" for k, v in c.evidence.items() if v is not None and v != [])
        if details and verbose:
            out.write(f"  {'':<8} {'':<{width}}  read: {details}\n")
        if c.state != "ok" and c.hint:
            out.write(f"  {'':<8} {'':<{width}}  fix: {c.hint}\n")
    if arm_state and verbose:
        out.write("\nlast arm:\n")
        for key in ("armed", "since", "reason", "kernel", "initrd", "dtb", "cmdline", "file_load", "last_error",
                    "updated"):
            if arm_state.get(key) not in (None, ""):
                value = human(arm_state[key]) if key in ("since", "updated") else arm_state[key]
                out.write(f"  {key}: {value}\n")
    elif arm_state and arm_state.get("last_error"):
        out.write(f"\nlast arm error: {arm_state['last_error']}\n")
