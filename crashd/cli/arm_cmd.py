"""``crashd arm`` / ``crashd disarm``: act now, then tell a running daemon.

``disarm`` leaves a hold file in ``/run/crashd`` so the daemon does not re-arm
what a person just unloaded; ``arm`` removes it. Either then sends SIGHUP to the
daemon (pid file checked against the process's own command line), which re-reads
config and state and adopts the new situation without loading twice.

Exit status: 0 done, 1 kexec failed, 3 the machine is not ready to arm.
"""

from __future__ import annotations

import argparse
import sys

from crashd.cli import EXIT_FAILURE, EXIT_NOT_ARMED, EXIT_OK, Context
from crashd.cli.output import add_json_option, print_json

__all__ = ["add_arguments", "arm", "disarm", "run"]


def add_arguments(verb: str, parser: argparse.ArgumentParser) -> None:
    add_json_option(parser)
    if verb == "arm":
        parser.epilog = "exit status: 0 armed, 1 kexec failed, 3 not ready to arm"
    else:
        parser.epilog = "exit status: 0 unloaded (or nothing was loaded), 1 kexec failed"


def _say(args: argparse.Namespace, ok: bool, message: str, **extra: object) -> None:
    if args.json:
        print_json({"ok": ok, "message": message, **extra}, mode=args.json)
    else:
        print(message, file=sys.stdout if ok else sys.stderr)


def run(verb: str, args: argparse.Namespace, ctx: Context) -> int:
    return arm(args, ctx) if verb == "arm" else disarm(args, ctx)


def arm(args: argparse.Namespace, ctx: Context) -> int:
    from dataclasses import asdict

    from crashd.arm.armstate import clear_hold, signal_daemon, write_state
    from crashd.arm.bootfiles import machine_arch
    from crashd.arm.daemon import arm_state
    from crashd.arm.kexec import ArmError, Kexec, load_argv, plan_for
    from crashd.arm.readiness import assess
    from crashd.core.config import load_config
    from crashd.core.journal import Journal

    config = load_config(ctx.paths)
    readiness = assess(ctx.paths, ctx.tools, config)
    if not readiness.ready:
        clear_hold(ctx.paths)  # arm as soon as it can: the daemon keeps checking
        pid = signal_daemon(ctx.paths)
        Journal.detect(ctx.paths).event("arm_failed", f"crashd arm: {readiness.summary()}", priority=4,
                                        reason=readiness.blocking()[0].reason if readiness.blocking() else "not_ready")
        _say(args, False, readiness.summary(), daemon_pid=pid)
        return EXIT_NOT_ARMED
    plan = plan_for(ctx.paths, config, readiness.boot_files, readiness.auto_file_load, machine_arch(),
                    network=readiness.capture_network)
    try:
        Kexec(ctx.paths, ctx.tools).load(plan)
    except ArmError as exc:
        Journal.detect(ctx.paths).event("arm_failed", f"Arming the capture kernel failed: {exc}", priority=3,
                               reason="kexec_failed", stderr=exc.stderr.strip() or None)
        _say(args, False, f"not armed: {exc}", argv=exc.argv)
        return EXIT_FAILURE
    state = arm_state(ctx.paths, plan, readiness.boot_files.release, "crashd arm")
    write_state(ctx.paths, state)
    # only now: while the hold is there the daemon keeps its hands off, so it
    # cannot race this load (the kernel answers a concurrent load with EBUSY)
    clear_hold(ctx.paths)
    Journal.detect(ctx.paths).event("armed", f"Capture kernel armed: {readiness.boot_files.release} (crashd arm)",
                           reason="crashd arm", release=readiness.boot_files.release, kernel=state.kernel,
                           initrd=state.initrd, cmdline=plan.cmdline, file_load=int(plan.file_load))
    pid = signal_daemon(ctx.paths)
    _say(args, True, f"armed: {readiness.boot_files.release}: {' '.join(load_argv(plan))}",
         state=asdict(state), daemon_pid=pid)
    return EXIT_OK


def disarm(args: argparse.Namespace, ctx: Context) -> int:
    from crashd.arm.armstate import ArmState, now_iso, read_state, set_hold, signal_daemon, write_state
    from crashd.arm.bootlog import note_disarmed
    from crashd.arm.kexec import ArmError, Kexec, crash_loaded
    from crashd.core.journal import Journal

    set_hold(ctx.paths, f"crashd disarm at {now_iso()}")
    pid = signal_daemon(ctx.paths)
    previous = read_state(ctx.paths)
    if crash_loaded(ctx.paths) is not True:
        note_disarmed(ctx.paths, "crashd disarm: nothing was loaded")
        write_state(ctx.paths, ArmState(armed=False, since=now_iso(), reason="crashd disarm"))
        Journal.detect(ctx.paths).event("disarmed", "crashd disarm: nothing was loaded; the daemon will not arm until "
                                        "'crashd arm'", priority=5, reason="crashd disarm")
        _say(args, True, "not armed (nothing to unload)", daemon_pid=pid)
        return EXIT_OK
    file_load = bool(previous.file_load) if previous else False
    try:
        Kexec(ctx.paths, ctx.tools).unload(file_load)
    except ArmError as exc:
        Journal.detect(ctx.paths).event("arm_failed", f"crashd disarm: could not unload the capture kernel: {exc}",
                                        priority=3, reason="unload_failed", stderr=exc.stderr.strip() or None)
        _say(args, False, f"could not unload: {exc}", argv=exc.argv)
        return EXIT_FAILURE
    note_disarmed(ctx.paths, "crashd disarm")
    write_state(ctx.paths, ArmState(armed=False, since=now_iso(), reason="crashd disarm"))
    Journal.detect(ctx.paths).event("disarmed", "Capture kernel unloaded (crashd disarm)", priority=5, reason="crashd disarm")
    _say(args, True, "disarmed: capture kernel unloaded; 'crashd arm' arms again", daemon_pid=pid)
    return EXIT_OK
