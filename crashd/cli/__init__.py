"""``crashd <verb>``: the command people and units run.

Each verb lives in its own module, imported only when that verb runs: the capture
kernel pays for every module it loads. A verb module provides
``add_arguments(verb, parser)`` and ``run(verb, args, ctx) -> int``.

Exit codes: 0 ok, 1 failure, 2 usage, 3 not armed / not applicable, 4 armed, but a
capture is expected to fail (a degraded check: see ``Readiness.degraded``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from crashd import __version__
from crashd.cli.colour import Colour
from crashd.core.errors import CrashdError
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner

__all__ = [
    "Colour",
    "Context",
    "CrashdError",
    "EXIT_DEGRADED",
    "EXIT_FAILURE",
    "EXIT_NOT_ARMED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HostPaths",
    "PAGED_VERBS",
    "ToolRunner",
    "VERBS",
    "__version__",
    "find_verb",
    "main",
    "os_error_line",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_ARMED = 3
EXIT_DEGRADED = 4  # armed, but a capture is expected to fail

# verb -> (module, one-line help). Order is the order of `crashd --help`.
VERBS: dict[str, tuple[str, str]] = {
    "status": ("crashd.cli.status_cmd", "report readiness and whether the capture kernel is armed"),
    "estimate": ("crashd.cli.estimate_cmd", "estimate the crashkernel= reservation and the dump size"),
    "test": ("crashd.cli.test_cmd", "check (--dry-run) or prove (--crash) that a crash will be captured"),
    "config": ("crashd.cli.config_cmd", "check or show the configuration"),
    "daemon": ("crashd.cli.daemon_cmd", "run the arming daemon (crashd.service)"),
    "arm": ("crashd.cli.arm_cmd", "load the capture kernel now"),
    "disarm": ("crashd.cli.arm_cmd", "unload the capture kernel now"),
    "save": ("crashd.cli.save_cmd", "save /proc/vmcore (in the capture kernel)"),
    "ingest": ("crashd.cli.ingest_cmd", "turn pstore records and saved dumps into crash records"),
    "list": ("crashd.cli.records_cmd", "list crash records"),
    "show": ("crashd.cli.records_cmd", "show one crash record"),
    "remove": ("crashd.cli.records_cmd", "remove a crash record"),
    "capture-network": ("crashd.cli.capnet_cmd", "bring up a remote target's network (in the capture kernel)"),
    "propagate": ("crashd.cli.propagate_cmd", "set up an ssh:// target: key pair, pinned host key, key on the server"),
    "dmesg": ("crashd.cli.vmcore_cmd", "print the kernel log of a record or a vmcore file"),
    "inspect": ("crashd.cli.vmcore_cmd", "summarise a vmcore file"),
    "debug": ("crashd.cli.debug_cmd", "open a record's dump in crash (or drgn) with the matching debug vmlinux"),
    "analyze": ("crashd.cli.analyze_cmd", "triage report of a record's dump with drgn: backtraces with source lines"),
}

# Verbs whose output a person reads page by page: on a terminal they go through the pager.
PAGED_VERBS = frozenset({"list", "show", "dmesg", "status"})


@dataclass
class Context:
    """What every verb gets: the host paths, the tool seam and the terminal's traits
    (decided before a pager takes stdout over)."""

    paths: HostPaths
    tools: ToolRunner = field(default_factory=ToolRunner)
    debug: bool = False
    colour: Colour = field(default_factory=Colour)
    columns: int | None = None  # the terminal's width; None: not a terminal, never truncate


def _common(default: object) -> argparse.ArgumentParser:
    """The global options, accepted before or after the verb.

    The copy given to the verb parsers uses ``argparse.SUPPRESS`` as default, so a
    ``--root`` given before the verb is not reset to None by the verb's parser.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--root", metavar="DIR", default=default, help="treat DIR as / (default: $CRASHD_ROOT or /)"
    )
    common.add_argument(
        "--tools-path", metavar="DIRS", default=default,
        help="where host-changing tools (kexec, systemctl, mount…) come from when --root is not / "
             "(default: $CRASHD_TOOLS_PATH, else PATH's non-system directories)",
    )
    common.add_argument(
        "--debug", action="store_true", default=default, help="verbose logs and tracebacks"
    )
    common.add_argument(
        "--no-pager", action="store_true", default=default,
        help="do not pipe list, show, dmesg and status into a pager (default on a terminal: "
             "$SYSTEMD_PAGER, $PAGER or less)",
    )
    return common


_OPTIONS_WITH_VALUE = frozenset({"--root", "--tools-path"})


def find_verb(args_list: Sequence[str]) -> str | None:
    """The verb: the first word that is neither an option nor an option's value."""
    skip = False
    for a in args_list:
        if skip:
            skip = False
            continue
        if a == "--":
            return None
        if a.startswith("-"):
            skip = a in _OPTIONS_WITH_VALUE
            continue
        return a if a in VERBS else None
    return None


def _parser(verb: str | None) -> argparse.ArgumentParser:
    parent = _common(None)
    common = _common(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="crashd",
        description="Capture kernel crash dumps and pstore records; read them back.",
        epilog="exit status: 0 ok, 1 failure, 2 usage, 3 not armed / not applicable, 4 armed, but degraded",
        parents=[parent],
    )
    parser.add_argument("--version", action="version", version=f"crashd {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for name, (module_name, help_text) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if name == verb:
            importlib.import_module(module_name).add_arguments(name, p)
    return parser


def os_error_line(exc: OSError, paths: HostPaths) -> str:
    """``<path>: <strerror>`` and, where there is one, the fix."""
    import errno
    import os
    from pathlib import Path

    where = paths.unhost(Path(exc.filename)) + ": " if exc.filename else ""
    line = f"{where}{exc.strerror or exc}"
    if exc.errno in (errno.EACCES, errno.EPERM) and os.geteuid() != 0:
        store = exc.filename and Path(exc.filename).is_relative_to(paths.crash_store)
        what = "crash records are readable by root only" if store else "this needs root"
        return f"{line}: {what}; try sudo"
    if exc.errno == errno.ENOENT:
        return f"{line} (removed meanwhile, e.g. by retention?)"
    return line


def _columns(fd: int = 1) -> int | None:
    """The terminal's width ($COLUMNS wins, as in systemd); None when ``fd`` is no terminal."""
    import os

    if not os.isatty(fd):
        return None
    value = os.environ.get("COLUMNS", "")
    if value.isascii() and value.isdigit() and 0 < int(value) < 100_000:
        return int(value)
    try:
        return os.get_terminal_size(fd).columns or None
    except OSError:
        return None


# Options whose value may start with '-' (``--since -2h``): argparse would take it for an option.
_DASH_VALUE_OPTIONS = frozenset({"--since", "--until", "-S", "-U"})


def _normalise_words(args_list: list[str]) -> list[str]:
    """A bare ``--json`` means ``--json=pretty`` (what it always printed), so that
    ``--json=short|pretty`` is an option with a value and ``show --json ID`` still works;
    ``--since -2h`` becomes ``--since=-2h``, as getopt would read it."""
    out: list[str] = []
    i = 0
    while i < len(args_list):
        a = args_list[i]
        if a == "--":
            return out + args_list[i:]
        if a in _DASH_VALUE_OPTIONS and i + 1 < len(args_list):
            out.append(f"{a}={args_list[i + 1]}")
            i += 2
            continue
        out.append("--json=pretty" if a == "--json" else a)
        i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args_list = _normalise_words(list(sys.argv[1:] if argv is None else argv))
    if args_list[:1] == ["__complete"]:  # the shells' helper (crashd.cli.completion); not a verb
        from crashd.cli.completion import complete_main

        return complete_main(args_list[1:])
    try:
        parser = _parser(find_verb(args_list))
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse: --help/--version exit 0, errors exit 2
        return int(exc.code or 0)
    if args.verb is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE

    from crashd.core.log import setup_logging

    args.debug = bool(args.debug)
    setup_logging(debug=args.debug)
    import os

    from crashd.core.tools import TOOLS_PATH_ENV

    paths = HostPaths.from_env(args.root)
    tools = ToolRunner.for_root(paths.root, args.tools_path or os.environ.get(TOOLS_PATH_ENV))
    from contextlib import AbstractContextManager, nullcontext

    from crashd.cli.colour import decide

    ctx = Context(paths=paths, tools=tools, debug=args.debug, colour=decide(), columns=_columns())
    module = importlib.import_module(VERBS[args.verb][0])
    pager: AbstractContextManager[object] = nullcontext()
    if args.verb in PAGED_VERBS and not args.no_pager:  # the capture kernel's `save` never loads it
        from crashd.cli.pager import paged

        pager = paged()
    try:
        with pager:
            return int(module.run(args.verb, args, ctx))
    except CrashdError as exc:
        if args.debug:
            logging.getLogger("crashd").exception("%s", exc)
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"crashd {args.verb}: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `crashd list | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # after BrokenPipeError (one of them): a permission, a race, a full disk
        if args.debug:
            logging.getLogger("crashd").exception("%s", exc)
        print(f"crashd {args.verb}: {os_error_line(exc, ctx.paths)}", file=sys.stderr)
        return EXIT_FAILURE
