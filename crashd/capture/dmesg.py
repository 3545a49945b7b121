"""Save the crashed kernel's log first: the smallest, most valuable piece.

crashd's own reader comes first (no external tool, knows every printk format);
if it is missing or fails, ``makedumpfile --dump-dmesg``, then kexec-tools'
``vmcore-dmesg``. Every attempt is recorded as a step, so capture.json says which
one produced ``dmesg.txt``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from crashd.capture.spool import DMESG_FILE, Spool
from crashd.capture.watchdog import Watchdog
from crashd.core.errors import CrashdError, ToolError
from crashd.core.tools import ToolRunner

__all__ = ["TOOL_TIMEOUT", "log", "save_dmesg"]

log = logging.getLogger(__name__)
# Seconds for one way of extracting the log (normally well under one): each is
# bounded, so the three together stay far inside the unit's TimeoutStartSec=.
TOOL_TIMEOUT = 120


def save_dmesg(spool: Spool, vmcore: Path, tools: ToolRunner, steps: list[str], errors: list[str]) -> bool:
    """Write ``dmesg.txt`` into ``spool``; True when one of the ways worked."""
    ways: list[tuple[str, Callable[[], bool]]] = [("crashd reader", lambda: _own_reader(spool, vmcore, steps))]
    if tools.which("makedumpfile"):
        ways.append(("makedumpfile", lambda: _makedumpfile(spool, vmcore, tools, steps)))
    if tools.which("vmcore-dmesg"):
        ways.append(("vmcore-dmesg", lambda: _vmcore_dmesg(spool, vmcore, tools, steps)))
    for name, way in ways:
        try:
            if way():
                return True
        except (OSError, CrashdError) as exc:  # e.g. a symlink planted as dmesg.txt
            spool.remove(DMESG_FILE)
            steps.append(f"dmesg: {name} failed: {exc}")
    errors.append("the kernel log could not be extracted by any method")
    return False


def _own_reader(spool: Spool, vmcore: Path, steps: list[str]) -> bool:
    try:
        from crashd.vmcore import dmesg_of  # the full reader is imported only now
    except ImportError as exc:
        steps.append(f"dmesg: crashd reader unavailable ({exc})")
        return False
    try:
        # In-process: a read of /proc/vmcore that blocks is interrupted by the watchdog
        # (Stalled is a CrashdError), and the next way is tried.
        with Watchdog(TOOL_TIMEOUT, None):
            text, warnings = dmesg_of(vmcore)
    except CrashdError as exc:
        steps.append(f"dmesg: crashd reader failed: {exc}")
        return False
    except Exception as exc:  # noqa: BLE001 - a reader bug must not cost the evidence
        log.debug("dmesg reader crashed", exc_info=True)
        steps.append(f"dmesg: crashd reader crashed: {type(exc).__name__}: {exc}")
        return False
    if not text.strip():
        # The reader says why in its warnings (e.g. no printk symbols in VMCOREINFO);
        # another tool may still know better.
        steps.append(f"dmesg: crashd reader found no log ({'; '.join(str(w) for w in warnings[:3])})")
        return False
    try:
        size = spool.write_file(DMESG_FILE, text.encode("utf-8", "replace"))
    except OSError as exc:
        spool.remove(DMESG_FILE)
        steps.append(f"dmesg: writing failed: {exc.strerror or exc}")
        return False
    note = f" ({len(warnings)} warnings: {'; '.join(str(w) for w in warnings[:3])})" if warnings else ""
    steps.append(f"dmesg: crashd reader, {size} bytes{note}")
    return True


def _makedumpfile(spool: Spool, vmcore: Path, tools: ToolRunner, steps: list[str]) -> bool:
    out = spool.free_path(DMESG_FILE)
    try:
        result = tools.run(
            ["makedumpfile", "--dump-dmesg", "--message-level", "6", str(vmcore), str(out)], timeout=TOOL_TIMEOUT
        )
    except ToolError as exc:
        steps.append(f"dmesg: makedumpfile --dump-dmesg could not run: {exc}")
        return False
    if result.ok and spool.size_of(DMESG_FILE) is not None:
        size = spool.adopt(DMESG_FILE)
        steps.append(f"dmesg: makedumpfile --dump-dmesg, {size} bytes")
        return True
    spool.remove(DMESG_FILE)
    last = (result.stdout + result.stderr).strip().splitlines()[-1:] or [""]
    steps.append(f"dmesg: makedumpfile --dump-dmesg failed (exit {result.returncode}) {last[0]}".rstrip())
    return False


def _vmcore_dmesg(spool: Spool, vmcore: Path, tools: ToolRunner, steps: list[str]) -> bool:
    try:
        result = tools.run(["vmcore-dmesg", str(vmcore)], timeout=TOOL_TIMEOUT)
    except ToolError as exc:
        steps.append(f"dmesg: vmcore-dmesg could not run: {exc}")
        return False
    if not result.ok or not result.stdout:
        steps.append(f"dmesg: vmcore-dmesg failed (exit {result.returncode})")
        return False
    try:
        size = spool.write_file(DMESG_FILE, result.stdout.encode("utf-8", "replace"))
    except OSError as exc:
        spool.remove(DMESG_FILE)
        steps.append(f"dmesg: writing failed: {exc.strerror or exc}")
        return False
    steps.append(f"dmesg: vmcore-dmesg, {size} bytes")
    return True
