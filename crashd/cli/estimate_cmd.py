"""``crashd estimate [--json]``: what to reserve for the capture kernel and what a dump will take.

As ``kdumpctl estimate``: the reservation this machine's capture needs, part by
part with how each part was found, against ``crashkernel=`` now; and the dump
at the configured ``dump_level`` against the target's free space and ``min_free``.

Exit status: 0 both fit (or cannot be compared), 1 error, 4 something does not fit.
"""

from __future__ import annotations

import argparse
import sys

from crashd.cli import EXIT_DEGRADED, EXIT_OK, Context
from crashd.cli.output import add_json_option, print_json

__all__ = ["add_arguments", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    parser.add_argument("--no-mem-usage", action="store_true",
                        help="do not run makedumpfile --mem-usage (approximate the dump from /proc/meminfo)")
    parser.epilog = "exit status: 0 fits (or nothing to compare), 1 error, 4 the reservation or the target is too small"


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{-(-n // (1 << 20))} MiB"


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    from crashd.arm.bootfiles import find_boot_files, running_release
    from crashd.arm.dumpsize import estimate_dump
    from crashd.arm.estimate import estimate_reservation
    from crashd.arm.readiness import check_crashkernel
    from crashd.core.config import read_config

    config = read_config(ctx.paths).config
    boot = find_boot_files(ctx.paths, config.arm, running_release(ctx.paths))
    _, reserved = check_crashkernel(ctx.paths)
    res = estimate_reservation(ctx.paths, config, boot, reserved)
    dump = estimate_dump(ctx.paths, ctx.tools, config, use_makedumpfile=not args.no_mem_usage)
    bad = res.fits is False or dump.fits is False
    if args.json:
        print_json({"reservation": res.to_dict(), "dump": dump.to_dict(), "fits": not bad}, mode=args.json)
        return EXIT_DEGRADED if bad else EXIT_OK
    out = sys.stdout
    out.write(f"capture kernel reservation ({res.arch}, {boot.release}):\n")
    for p in res.parts:
        out.write(f"  {p.name:<16} {_mib(p.bytes):>8}  {p.how}\n")
    out.write(f"  {'total':<16} {_mib(res.needed):>8}  suggested crashkernel={res.suggested}\n")
    if not reserved:
        out.write("  reserved: none — add crashkernel=" + res.suggested + " to the kernel command line\n")
    else:
        verdict = "fits" if res.fits else f"TOO SMALL — set crashkernel={res.suggested}"
        out.write(f"  reserved {_mib(reserved)}: {verdict}\n")
    out.write(f"\ndump at dump_level {dump.dump_level} to {dump.target}:\n")
    out.write(f"  kept pages   {_mib(dump.kept_bytes):>8}  {dump.how}\n")
    out.write(f"  written      {_mib(dump.written_bytes):>8}\n")
    out.write(f"  target free  {_mib(dump.free_bytes):>8}  {dump.target_how}; min_free {_mib(dump.min_free)}\n")
    if dump.fits is False:
        out.write("  DOES NOT FIT: the capture will fall back to the next dump_level or the kernel log only\n")
    elif dump.fits:
        out.write("  fits\n")
    return EXIT_DEGRADED if bad else EXIT_OK
