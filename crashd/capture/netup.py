"""In the capture kernel: bring up the network a remote target needs, within a deadline.

Run by ``crashd-capture-network.service`` (``crashd capture-network``) only when the
capture command line carries ``crashd.net=`` (:mod:`crashd.core.capnet`, planned at
arm time). Per manager:

* ``networkd``: systemd-networkd, started beside this unit, applies the running
  system's ``.network`` files; nothing to do but wait;
* ``ifupdown``: ``ifup IFACE`` (``/etc/network/interfaces``), bounded by the deadline;
* ``static``: ``ip link set dev IFACE up``, ``ip addr replace``, ``ip route replace default``.

Then it waits until the interface has a global address and, when the server's
address is known (a literal, or it resolves now), a route reaches it. The result
goes to ``/run/crashd/network.json``: ``crashd save`` reads it and, when the
network did not come up, records why in capture.json ``errors`` and saves the dump
locally at once instead of spending its connect retries on a network that is not
there — so ``failure_action`` comes within ``network_timeout`` plus the local save.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from crashd.core.capnet import NetPlan
from crashd.core.errors import CrashdError
from crashd.core.fsutil import read_value
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner

__all__ = ["NetResult", "POLL", "RESULT_FILE", "bring_up", "read_result", "write_result"]

RESULT_FILE = "network.json"  # in HostPaths.state_dir (/run/crashd)
POLL = 1.0


@dataclass(frozen=True)
class NetResult:
    ok: bool
    plan: str  # crashd.net='s value
    message: str
    seconds: float


def _run(tools: ToolRunner, argv: list[str], timeout: float) -> tuple[bool, str]:
    try:
        r = tools.run(argv, timeout=max(1.0, timeout))
    except CrashdError as exc:
        return False, str(exc)
    detail = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
    return r.ok, "" if r.ok else f"{' '.join(argv[:4])}: {detail}"


def _has_address(tools: ToolRunner, iface: str) -> bool:
    try:
        r = tools.run(["ip", "-o", "addr", "show", "dev", iface, "scope", "global"], timeout=5)
    except CrashdError:
        return False
    return r.ok and " inet" in r.stdout


def _server_address(tools: ToolRunner, host: str) -> str | None:
    import ipaddress

    bare = host.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    try:
        r = tools.run(["getent", "ahosts", "--", bare], timeout=5)
    except CrashdError:
        return None
    for line in r.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == "STREAM":
            return words[0]
    return None


def bring_up(
    tools: ToolRunner,
    plan: NetPlan,
    server: str,
    timeout: float,
    *,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> NetResult:
    """Configure ``plan`` and wait until ``server`` is reachable, at most ``timeout`` seconds."""
    t0 = clock()
    deadline = t0 + timeout
    problems: list[str] = []

    def left() -> float:
        return deadline - clock()

    if plan.manager == "static":
        steps = [["ip", "link", "set", "dev", plan.iface, "up"],
                 ["ip", "addr", "replace", plan.address, "dev", plan.iface]]
        if plan.gateway:
            steps.append(["ip", "route", "replace", "default", "via", plan.gateway, "dev", plan.iface])
        for argv in steps:
            ok, why = _run(tools, argv, min(10.0, max(1.0, left())))
            if not ok:
                problems.append(why)
    elif plan.manager == "ifupdown":
        ok, why = _run(tools, ["ifup", plan.iface], max(1.0, left()))
        if not ok and "already configured" not in why:
            problems.append(why)
    say(f"crashd capture-network: {plan.value()}: waiting up to {timeout:.0f} s for {plan.iface} to reach {server}")
    have_address = False
    while True:
        have_address = have_address or _has_address(tools, plan.iface)
        if have_address:
            address = _server_address(tools, server)
            if address is None:
                # a name that does not resolve yet (DNS may come later); the address is what we can check
                if left() <= 0:
                    return NetResult(True, plan.value(), f"{plan.iface} is up; {server} did not resolve yet",
                                     round(clock() - t0, 2))
            else:
                ok, why = _run(tools, ["ip", "-o", "route", "get", address], 5)
                if ok:
                    return NetResult(True, plan.value(), f"{plan.iface} is up and routes to {server} ({address})",
                                     round(clock() - t0, 2))
        if left() <= 0:
            what = "has no address" if not have_address else f"has no route to {server}"
            detail = f" ({'; '.join(problems)})" if problems else ""
            return NetResult(False, plan.value(),
                             f"{plan.iface} {what} after {timeout:.0f} s (network_timeout){detail}",
                             round(clock() - t0, 2))
        sleep(min(POLL, max(0.0, left())))


def write_result(paths: HostPaths, result: NetResult) -> None:
    paths.state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = paths.state_dir / f".{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(asdict(result), sort_keys=True) + "\n")
    tmp.replace(paths.state_dir / RESULT_FILE)


def read_result(paths: HostPaths) -> NetResult | None:
    """What ``crashd capture-network`` found this boot; None when it did not run."""
    text = read_value(paths.state_dir / RESULT_FILE)
    if not text:
        return None
    try:
        raw = json.loads(text)
        return NetResult(bool(raw["ok"]), str(raw["plan"]), str(raw["message"]), float(raw["seconds"]))
    except (ValueError, KeyError, TypeError):
        return None
