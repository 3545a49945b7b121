"""``crashd test --dry-run`` / ``crashd test --crash [--yes]``: will a crash really be captured?

As ``kdumpctl test``. ``--dry-run`` crashes nothing: every readiness check, the
kexec command that is (or would be) loaded, the capture command line, the target
(exists, mountable, free space against the dump estimate) and whether the capture
kernel fits its reservation. ``--crash`` proves it: after a confirmation it records
a pending test, loads the capture kernel with ``crashd.test_id=<id>``, syncs and
crashes the kernel with sysrq-c; ingest marks the test passed or failed after the
reboot and ``crashd status`` shows it.

Exit status: 0 a capture is expected to succeed (--dry-run) / the crash was
triggered; 1 error or refused; 3 not armed / not ready; 4 armed, but a capture is
expected to fail.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from crashd.cli import EXIT_DEGRADED, EXIT_FAILURE, EXIT_NOT_ARMED, EXIT_OK, Context
from crashd.cli.output import add_json_option, print_json

__all__ = ["add_arguments", "dry_run", "run", "target_report"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="check everything a capture needs; crash nothing")
    mode.add_argument("--crash", action="store_true", help="crash the kernel now (sysrq-c) to prove the capture")
    parser.add_argument("--yes", action="store_true", help="with --crash: do not ask for confirmation")
    add_json_option(parser, "machine-readable output (--dry-run)")
    parser.epilog = ("exit status: 0 a capture is expected to succeed / crash triggered, 1 error or refused, "
                     "3 not armed, 4 armed, but a capture is expected to fail")


def _mib(n: int | None) -> str:
    return "?" if n is None else f"{-(-n // (1 << 20))} MiB"


def target_report(ctx: Context, config: Any, written: int | None) -> dict[str, Any]:
    """The target as the capture will meet it: a directory must exist (or its parent), a
    device is mounted under /run/crashd and unmounted again."""
    from crashd.arm.dumpsize import target_free
    from crashd.core.remote import is_remote
    from crashd.core.settings import setting
    from crashd.core.target import TargetError, is_device, open_target

    value, min_free = config.capture.target, config.capture.min_free
    if is_remote(value):  # the server is the capture_remote check; here the local directory (dmesg, fallback)
        value = setting("capture", "target").default
    out: dict[str, Any] = {"target": value, "usable": False, "free_bytes": None, "min_free": min_free,
                           "needed_bytes": written, "fits": None, "problem": None}
    if is_device(value):
        try:
            with open_target(value, config.capture.mount_options, ctx.paths, ctx.tools, deadline=0) as target:
                st = os.statvfs(target.path)
                out.update(usable=True, free_bytes=st.f_bavail * st.f_frsize, how=f"mounted {target.display}")
        except (TargetError, OSError) as exc:
            out["problem"] = str(exc)
    else:
        path = ctx.paths.host(value) if value.startswith("/") else None
        if path is None:
            out["problem"] = f"{value}: not an absolute directory or a device"
        elif path.is_dir() and os.access(path, os.W_OK | os.X_OK):
            out["usable"] = True
        elif not path.exists() and path.parent.is_dir():
            out["usable"] = True  # the capture creates it
        else:
            out["problem"] = f"{value}: not a writable directory (nor creatable)"
        free, how = target_free(ctx.paths, value)
        out.update(free_bytes=free, how=how)
    if out["free_bytes"] is not None and written is not None:
        out["fits"] = written + min_free <= out["free_bytes"]
    return out


def _verdict(problems: list[str], degraded: list[str], readiness: Any, target: dict[str, Any]) -> str:
    """The first line. A remote target that cannot work, and nothing else wrong, is not a lost
    crash: the save falls back to the local directory, so the verdict says where the dump goes."""
    if problems:
        return f"a crash now would NOT be captured: {problems[0]}"
    if not degraded:
        return "a crash now is expected to be captured"
    checks = readiness.degraded()
    if len(degraded) == 1 and len(checks) == 1 and checks[0].name == "capture_remote":
        ev = checks[0].evidence
        return (f"a crash now would be captured, but not on {ev.get('target')}: {ev.get('problem')}; "
                f"the dump would be saved in {target['target']}")
    return f"a crash now would NOT be captured: {degraded[0]}"


def dry_run(ctx: Context) -> tuple[int, dict[str, Any]]:
    """Everything ``--dry-run`` reports, and its exit status."""
    from crashd.arm.armstate import read_state
    from crashd.arm.bootfiles import machine_arch
    from crashd.arm.dumpsize import estimate_dump
    from crashd.arm.estimate import estimate_reservation
    from crashd.arm.kexec import ArmError, load_argv, plan_for
    from crashd.arm.readiness import assess
    from crashd.core.config import read_config

    config = read_config(ctx.paths).config
    readiness = assess(ctx.paths, ctx.tools, config)
    reservation = estimate_reservation(ctx.paths, config, readiness.boot_files, readiness.reserved_bytes)
    dump = estimate_dump(ctx.paths, ctx.tools, config)
    state = read_state(ctx.paths)
    kexec: dict[str, Any] = {"argv": None, "loaded": False, "cmdline": None, "problem": None}
    try:
        plan = plan_for(ctx.paths, config, readiness.boot_files, readiness.auto_file_load, machine_arch(),
                        network=readiness.capture_network)
    except ArmError as exc:
        kexec["problem"] = str(exc)
    else:
        argv = load_argv(plan)
        loaded = bool(readiness.armed and state is not None and state.armed and state.argv == argv)
        kexec.update(argv=argv, loaded=loaded, cmdline=plan.cmdline)
    target = target_report(ctx, config, dump.written_bytes)
    problems = [f"{c.name}: {c.title} — {c.hint}" if c.hint else f"{c.name}: {c.title}" for c in readiness.blocking()]
    if not readiness.armed:
        problems.append("not armed: the capture kernel is not loaded (systemctl enable --now crashd)")
    degraded = [f"{c.name}: {c.title} — {c.hint}" for c in readiness.degraded()]
    if reservation.fits is False and not any(d.startswith("capture_memory") for d in degraded):
        degraded.append(f"capture_memory: {reservation.line()} — set crashkernel={reservation.suggested}")
    if not target["usable"]:
        degraded.append(f"target: {target['problem']}")
    elif target["fits"] is False:
        degraded.append(f"target: the dump (~{_mib(dump.written_bytes)}) and min_free ({_mib(dump.min_free)}) "
                        f"do not fit in {_mib(target['free_bytes'])} free: only the kernel log would be kept")
    code = EXIT_NOT_ARMED if problems else EXIT_DEGRADED if degraded else EXIT_OK
    verdict = _verdict(problems, degraded, readiness, target)
    report = {"expected_to_succeed": code == EXIT_OK, "verdict": verdict, "problems": problems,
              "degraded": degraded, "checks": [c.to_dict() for c in readiness.checks], "kexec": kexec,
              "reservation": reservation.to_dict(), "dump": dump.to_dict(), "target": target}
    return code, report


def _print_dry_run(report: dict[str, Any]) -> None:
    from crashd.cli.status_cmd import SYMBOLS

    out = sys.stdout
    out.write(f"{report['verdict']}\n\nchecks:\n")
    for c in report["checks"]:
        out.write(f"  {SYMBOLS[c['state']]:<8} {c['name']:<15} {c['title']}\n")
        if c["state"] != "ok" and c["hint"]:
            out.write(f"  {'':<8} {'':<15} fix: {c['hint']}\n")
    k = report["kexec"]
    out.write("\nkexec command ({}):\n  {}\n".format(
        "loaded now" if k["loaded"] else "would be loaded", " ".join(k["argv"]) if k["argv"] else k["problem"]))
    out.write(f"capture command line:\n  {k['cmdline']}\n")
    r = report["reservation"]
    fits = {True: "fits", False: "DOES NOT FIT", None: "nothing reserved"}[r["fits"]]
    out.write(f"\nreservation: needs ~{_mib(r['needed_bytes'])}, {_mib(r['reserved_bytes'])} reserved: {fits} "
              f"(suggested crashkernel={r['suggested_crashkernel']}; 'crashd estimate' for the parts)\n")
    t, d = report["target"], report["dump"]
    state = "usable" if t["usable"] else f"NOT USABLE: {t['problem']}"
    out.write(f"target {t['target']}: {state}; free {_mib(t['free_bytes'])}, dump ~{_mib(d['written_bytes'])} "
              f"at dump_level {d['dump_level']} + min_free {_mib(t['min_free'])}: "
              f"{ {True: 'fits', False: 'DOES NOT FIT', None: 'unknown'}[t['fits']] }\n")
    for line in report["problems"] + report["degraded"]:
        out.write(f"problem: {line}\n")


def _confirm(args: argparse.Namespace) -> bool:
    if args.yes:
        return True
    if not sys.stdin or not sys.stdin.isatty():
        print("crashd test: refusing to crash without confirmation: no terminal on stdin (use --yes)",
              file=sys.stderr)
        return False
    sys.stderr.write("This crashes the running kernel NOW (sysrq-c) and reboots through the capture kernel.\n"
                     "Unsaved work is lost. Type 'yes' to continue: ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() == "yes"


def crash(args: argparse.Namespace, ctx: Context) -> int:
    from crashd.arm.armstate import clear_hold, set_hold, signal_daemon
    from crashd.arm.bootfiles import machine_arch
    from crashd.arm.kexec import ArmError, Kexec, plan_for, read_boot_id
    from crashd.arm.readiness import assess
    from crashd.arm.selftest import fingerprint, new_test_id, record_pending
    from crashd.core.config import read_config

    config = read_config(ctx.paths).config
    readiness = assess(ctx.paths, ctx.tools, config)
    if not readiness.ready or not readiness.armed:
        print(f"crashd test: not crashing: {readiness.summary()}", file=sys.stderr)
        return EXIT_NOT_ARMED
    if readiness.degraded():
        print(f"crashd test: warning: {readiness.summary()}", file=sys.stderr)
    if not _confirm(args):
        return EXIT_FAILURE
    test_id = new_test_id()
    plan = plan_for(ctx.paths, config, readiness.boot_files, readiness.auto_file_load, machine_arch(), test_id,
                    network=readiness.capture_network)
    fp = fingerprint(ctx.paths, config, readiness.boot_files, readiness.reserved_bytes)
    record_pending(ctx.paths, test_id, read_boot_id(ctx.paths), fp)
    set_hold(ctx.paths, f"crashd test --crash {test_id}")  # the daemon must not reload in between
    try:
        Kexec(ctx.paths, ctx.tools).load(plan)
    except ArmError as exc:
        clear_hold(ctx.paths)
        signal_daemon(ctx.paths)
        print(f"crashd test: cannot load the capture kernel with the test id: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"crashd test: test {test_id}: capture kernel loaded with crashd.test_id={test_id}; crashing now",
          flush=True)
    os.sync()
    trigger = ctx.paths.proc("sysrq-trigger")
    try:
        fd = os.open(trigger, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.write(fd, b"c")
        finally:
            os.close(fd)
    except OSError as exc:
        clear_hold(ctx.paths)
        signal_daemon(ctx.paths)
        print(f"crashd test: cannot write {ctx.paths.unhost(trigger)}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    # On a real /proc the write does not return. Here it did: not the running kernel's /proc.
    clear_hold(ctx.paths)
    signal_daemon(ctx.paths)
    print(f"crashd test: wrote c to {ctx.paths.unhost(trigger)} but the kernel did not crash "
          "(not the running kernel's /proc?); the test stays pending", file=sys.stderr)
    return EXIT_OK


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    if args.crash:
        return crash(args, ctx)
    code, report = dry_run(ctx)
    if args.json:
        print_json(report, mode=args.json)
    else:
        _print_dry_run(report)
    return code
