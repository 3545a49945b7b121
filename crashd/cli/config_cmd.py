"""``crashd config check`` and ``crashd config show [--json]``.

``check`` lists every problem (``FILE:LINE: [section] key: message``) and exits 1
on any error; warnings (unknown keys and sections) alone exit 0. ``show`` prints
each effective value with the file and line that set it, or ``default``.
"""

from __future__ import annotations

import argparse
import sys

from crashd.cli import EXIT_FAILURE, EXIT_OK, Context
from crashd.cli.output import add_json_option, print_json

__all__ = ["add_arguments", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("check", "show"), help="check: validate; show: effective values")
    add_json_option(parser, "machine-readable output (show)")


def _display(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "keep"
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.core.config import read_config
    from crashd.core.settings import SETTINGS

    report = read_config(ctx.paths)
    for problem in report.problems:
        print(str(problem), file=sys.stderr)
    if args.action == "check":
        if not report.errors:
            files = ", ".join(ctx.paths.unhost(f) for f in report.files) or "no files (all defaults)"
            print(f"configuration ok ({files})")
        return EXIT_FAILURE if report.errors else EXIT_OK
    cfg = report.config
    rows = []
    for s in SETTINGS:
        value = getattr(getattr(cfg, s.section), s.key)
        rows.append((s.section, s.key, value, cfg.origins[s.section, s.key]))
    if args.json:
        print_json(
            {
                "settings": [
                    {"section": sec, "key": key, "value": list(v) if isinstance(v, tuple) else v, "origin": origin}
                    for sec, key, v, origin in rows
                ],
                "errors": [str(p) for p in report.errors],
                "warnings": [str(p) for p in report.warnings],
            },
            mode=args.json,
        )
    else:
        section = None
        for sec, key, value, origin in rows:
            if sec != section:
                print(f"{'' if section is None else chr(10)}[{sec}]")
                section = sec
            print(f"{key} = {_display(value)}    # {origin}")
    return EXIT_FAILURE if report.errors else EXIT_OK
