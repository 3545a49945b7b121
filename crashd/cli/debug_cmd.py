"""``crashd debug ID``: open a crash record's dump in a kernel debugger, as ``coredumpctl debug`` does.

The debug vmlinux is the one whose build id matches the dump's (crashd.analyze.debuginfo);
the debugger is ``crash VMLINUX DUMP`` or, with ``--debugger=drgn``, ``drgn -c DUMP -s VMLINUX``
(``$CRASHD_DEBUGGER`` chooses the default). ``-A ARGS`` adds arguments, split as a shell would
split words (``shlex``) but never run through a shell. Exit status: the debugger's; 3 when there
is no dump or no debug info (one line names the package to install); 1 when the debugger is
missing; 2 usage.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from crashd.cli import EXIT_FAILURE, Context
from crashd.core.errors import ToolError, UsageError

__all__ = ["DEBUGGERS", "DEBUGGER_ENV", "add_arguments", "debugger_argv", "run"]

DEBUGGER_ENV = "CRASHD_DEBUGGER"
DEBUGGERS = ("crash", "drgn")


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", metavar="ID", help="record name, a unique prefix of it, or a dump file")
    parser.add_argument("--debugger", choices=DEBUGGERS, default=None,
                        help=f"crash (default) or drgn; default from ${DEBUGGER_ENV}")
    parser.add_argument("-A", "--debugger-arguments", dest="extra", default="", metavar="ARGS",
                        help="extra arguments for the debugger, e.g. -A '-s -i cmds' or -A=-s (split into words, no shell)")
    parser.add_argument("--debuginfo", action="append", default=[], metavar="DIR", type=Path,
                        help="also look for the debug vmlinux in DIR (before [analyze] debuginfo_dirs)")
    parser.add_argument("--print", action="store_true", dest="print_only",
                        help="print the debugger command instead of running it")
    parser.epilog = "exit status: the debugger's; 1 debugger missing; 2 usage; 3 no dump or no debug info"


def debugger_argv(debugger: str, vmlinux: Path, dump: Path, extra: list[str]) -> list[str]:
    if debugger == "drgn":
        return ["drgn", "-c", str(dump), "-s", str(vmlinux), *extra]
    return ["crash", *extra, str(vmlinux), str(dump)]


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.analyze.debuginfo import find_debuginfo
    from crashd.analyze.run import kernel_of
    from crashd.cli.dumpref import resolve_dump
    from crashd.core.config import default_config, read_config

    debugger = args.debugger or os.environ.get(DEBUGGER_ENV) or "crash"
    if debugger not in DEBUGGERS:
        raise UsageError(f"${DEBUGGER_ENV}={debugger!r}: not one of {', '.join(DEBUGGERS)}")
    try:
        extra = shlex.split(args.extra)
    except ValueError as exc:
        raise UsageError(f"-A {args.extra!r}: {exc}") from None
    ref = resolve_dump(ctx.paths, args.id)
    kernel = kernel_of(ref.dump)
    try:
        config = read_config(ctx.paths).config
    except Exception:  # noqa: BLE001 - a broken config must not stop a debugging session
        config = default_config()
    info = find_debuginfo(ctx.paths, kernel, dirs=config.analyze.debuginfo_dirs, extra=args.debuginfo,
                          tools=ctx.tools, network=True)
    for r in info.rejected:
        print(f"crashd debug: refused {r.path}: {r.reason}", file=sys.stderr)
    argv = debugger_argv(debugger, info.vmlinux, ref.dump, extra)
    if args.print_only:
        print(shlex.join(argv))
        return 0
    if ctx.tools.which(argv[0]) is None:
        pkg = "crash" if debugger == "crash" else "python3-drgn (pip: drgn)"
        print(f"crashd debug: {argv[0]} is not installed; install {pkg}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        return ctx.tools.run_foreground(argv)
    except ToolError as exc:
        print(f"crashd debug: {exc}", file=sys.stderr)
        return EXIT_FAILURE

