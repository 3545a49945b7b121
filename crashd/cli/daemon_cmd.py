"""``crashd daemon``: the long-running arming service (crashd.service).

Builds the real collaborators — sd_notify from ``$NOTIFY_SOCKET``, the journal,
the kernel's hotplug uevents — and hands them to :class:`crashd.arm.daemon.Daemon`.
The uevent socket is only opened on the real root: a fake root's hotplug events
cannot come from this machine's netlink socket.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from crashd.cli import Context

__all__ = ["add_arguments", "log", "run"]

log = logging.getLogger(__name__)


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll", type=float, default=None, metavar="SECONDS",
                        help="how often to re-check files, readiness and the loaded flag (default 5)")
    parser.add_argument("--no-udev", action="store_true", help="do not watch CPU/memory hotplug events")


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.arm.daemon import DEFAULT_POLL, Daemon, watchdog_from_env
    from crashd.arm.hotplug import HotplugSource, UeventSource
    from crashd.core.journal import Journal
    from crashd.core.notify import Notifier

    hotplug: HotplugSource | None = None
    if not args.no_udev and ctx.paths.root == Path("/"):
        try:
            hotplug = UeventSource()
        except OSError as exc:  # no uevent netlink (a container, a sandbox): run without hotplug
            log.warning("not watching CPU/memory hotplug: %s", exc)
    poll = args.poll if args.poll and args.poll > 0 else DEFAULT_POLL
    daemon = Daemon(
        ctx.paths,
        ctx.tools,
        notifier=Notifier.from_env(),
        journal=Journal.detect(ctx.paths),
        hotplug=hotplug,
        poll=poll,
        watchdog=watchdog_from_env(),
    )
    return daemon.run()
