"""``crashd capture-network``: bring up a remote target's network in the capture kernel.

Run by ``crashd-capture-network.service``, which the capture command line pulls in
for a remote ``[capture] target`` only (``crashd.net=``, :mod:`crashd.core.capnet`).
Waits at most ``[capture] network_timeout``; the result is in
``/run/crashd/network.json`` for ``crashd save``.

Exit status: 0 the server is reachable, 1 not within the deadline, 3 no
``crashd.net=`` on the command line (nothing to do).
"""

from __future__ import annotations

import argparse
import sys

from crashd.cli import EXIT_FAILURE, EXIT_NOT_ARMED, EXIT_OK, Context

__all__ = ["add_arguments", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.epilog = "exit status: 0 reachable, 1 not within [capture] network_timeout, 3 no crashd.net= (nothing to do)"


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.capture.netup import NetResult, bring_up, write_result
    from crashd.core.capnet import plan_from_cmdline
    from crashd.core.config import default_config, read_config
    from crashd.core.remote import parse_remote

    try:
        cmdline = ctx.paths.cmdline.read_text(errors="replace")
    except OSError:
        cmdline = ""
    try:
        plan = plan_from_cmdline(cmdline)
    except ValueError as exc:
        print(f"crashd capture-network: {exc}", file=sys.stderr, flush=True)
        write_result(ctx.paths, NetResult(False, "", str(exc), 0.0))
        return EXIT_FAILURE
    if plan is None:
        print("crashd capture-network: no crashd.net= on the kernel command line: nothing to do", flush=True)
        return EXIT_NOT_ARMED
    try:
        config = read_config(ctx.paths).config.capture
    except Exception as exc:  # noqa: BLE001 - the capture kernel must go on with defaults
        print(f"crashd capture-network: config unreadable ({exc}); using defaults", flush=True)
        config = default_config().capture
    try:
        target = parse_remote(config.target)
    except ValueError:
        target = None
    server = target.host if target is not None else ""
    result = bring_up(ctx.tools, plan, server or "the server", float(config.network_timeout),
                      say=lambda line: print(line, flush=True))
    write_result(ctx.paths, result)
    print(f"crashd capture-network: {'ok' if result.ok else 'failed'}: {result.message} ({result.seconds:.1f} s)",
          flush=True)
    return EXIT_OK if result.ok else EXIT_FAILURE
