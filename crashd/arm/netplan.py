"""Arm time, for a remote ``[capture] target``: can it work, and what network must the capture kernel bring up?

One pass answers both, because they ask the same questions of the running system
(every external program through the :class:`~crashd.core.tools.ToolRunner` seam):

* the host resolves (``getent ahosts``; an address literal needs nothing);
* a route reaches it (``ip -o route get ADDRESS``): its ``dev`` is the interface
  the capture kernel must bring up;
* what configures that interface here: systemd-networkd (its link state file in
  ``/run/systemd/netif/links/IFINDEX`` names a ``NETWORK_FILE``), ifupdown
  (``/run/network/ifstate.IFACE``), else its current global address is used
  statically (NetworkManager, hand-made): :class:`~crashd.core.capnet.NetPlan`;
* ssh: makedumpfile and ssh are installed, the dedicated key exists, is a regular
  file owned by root with mode 0600, and the server's host key is pinned
  (``ssh-keygen -F``) — all of ``crashd propagate``'s work;
* NFS: ``mount.nfs`` is installed, and the server exports the path
  (``showmount -e``, when installed; NFSv4-only servers do not answer it, which is
  reported as unknown, not as a failure).

The result is one readiness check, ``capture_remote`` (a "degraded" check: armed,
but the dump cannot be saved on the server), and the plan's command-line
parameters. A failed check still plans what it can: the capture kernel falls back
to the local target anyway, and a transient DNS failure must not cost the network
of the capture boot when the interface is known.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from dataclasses import dataclass, field

from crashd.core.capnet import NetPlan, parse_network
from crashd.core.errors import CrashdError
from crashd.core.fsutil import read_value
from crashd.core.paths import HostPaths
from crashd.core.remote import NfsTarget, SshTarget, is_remote, key_files, parse_remote
from crashd.core.settings import Config
from crashd.core.tools import ToolRunner

__all__ = ["PROBE_TIMEOUT", "RemoteAssessment", "assess_remote", "manager_for", "resolve", "route_to"]

PROBE_TIMEOUT = 15.0  # one getent / ip / ssh-keygen / showmount call
OK, MISSING, UNKNOWN = "ok", "missing", "unknown"


@dataclass
class RemoteAssessment:
    """The check's fields and the plan; ``cmdline`` is empty for a local target."""

    state: str
    reason: str
    title: str
    hint: str = ""
    evidence: dict[str, object] = field(default_factory=dict)
    plan: NetPlan | None = None

    @property
    def cmdline(self) -> tuple[str, ...]:
        return tuple(self.plan.cmdline()) if self.plan else ()


def _run(tools: ToolRunner, argv: list[str]) -> tuple[int | None, str, str]:
    """(returncode or None when it could not run, stdout, stderr or the reason)."""
    try:
        r = tools.run(argv, timeout=PROBE_TIMEOUT)
    except CrashdError as exc:
        return None, "", str(exc)
    return r.returncode, r.stdout, r.stderr


def resolve(tools: ToolRunner, host: str) -> tuple[str | None, str]:
    """(address, problem): an address literal as is, a name through ``getent ahosts``
    (NSS: /etc/hosts, then DNS, as ssh and mount.nfs will resolve it)."""
    bare = host.strip("[]")
    try:
        return str(ipaddress.ip_address(bare)), ""
    except ValueError:
        pass
    rc, out, err = _run(tools, ["getent", "ahosts", "--", bare])
    if rc is None:
        return None, err
    for line in out.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] == "STREAM":
            return words[0], ""
    return None, f"{bare} does not resolve (getent ahosts: exit {rc})"


@dataclass(frozen=True)
class Route:
    iface: str
    gateway: str
    source: str
    local: bool  # the address is this machine's own


def route_to(tools: ToolRunner, address: str) -> tuple[Route | None, str]:
    rc, out, err = _run(tools, ["ip", "-o", "route", "get", address])
    if rc != 0:
        detail = (err.strip().splitlines() or [f"exit {rc}"])[-1]
        return None, f"no route to {address}: {detail}"
    words = out.split()
    def after(key: str) -> str:
        return words[words.index(key) + 1] if key in words[:-1] else ""
    iface = after("dev")
    if not iface:
        return None, f"no route to {address}: ip route get printed no device"
    return Route(iface, after("via"), after("src"), words[0] == "local" or iface == "lo"), ""


def manager_for(paths: HostPaths, iface: str) -> str | None:
    """``networkd`` or ``ifupdown`` when that configures ``iface`` on the running system."""
    ifindex = read_value(paths.sys("class", "net", iface, "ifindex"))
    if ifindex and ifindex.isdigit():
        state = read_value(paths.run("systemd", "netif", "links", ifindex)) or ""
        if re.search(r"^NETWORK_FILE=\S", state, re.MULTILINE) and not re.search(
                r"^ADMIN_STATE=(unmanaged|linger)", state, re.MULTILINE):
            return "networkd"
    if paths.run("network", f"ifstate.{iface}").is_file():
        return "ifupdown"
    ifstate = read_value(paths.run("network", "ifstate")) or ""
    if re.search(rf"^{re.escape(iface)}=", ifstate, re.MULTILINE):
        return "ifupdown"
    return None


def _current_address(tools: ToolRunner, iface: str) -> str:
    rc, out, _ = _run(tools, ["ip", "-o", "addr", "show", "dev", iface, "scope", "global"])
    if rc != 0:
        return ""
    m = re.search(r"\sinet6?\s+(\S+/\d+)", out)
    return m.group(1) if m else ""


def _plan(paths: HostPaths, tools: ToolRunner, config: Config, address: str | None,
          evidence: dict[str, object]) -> tuple[NetPlan | None, str]:
    """The network plan and a problem ('' when none)."""
    wanted = parse_network(config.capture.network)
    evidence["network"] = config.capture.network
    if wanted.mode == "none":
        return None, ""
    if wanted.mode == "static":
        return NetPlan("static", wanted.iface, wanted.address, wanted.gateway), ""
    route: Route | None = None
    if address is not None:
        route, problem = route_to(tools, address)
        if route is None and wanted.mode == "auto":
            return None, problem
    if route is not None:
        evidence.update(interface=route.iface, gateway=route.gateway or None)
        if route.local and wanted.mode == "auto":
            return None, ""  # the server is this machine (a test set-up): loopback needs nothing
    iface = wanted.iface if wanted.mode == "iface" else route.iface if route else ""
    if not iface:
        return None, "the interface to the server is unknown (set [capture] network = IFACE)"
    manager = manager_for(paths, iface)
    if manager is not None:
        evidence["configured_by"] = manager
        return NetPlan(manager, iface), ""
    current = _current_address(tools, iface)
    if not current:
        return None, (f"{iface} is configured neither by systemd-networkd nor by ifupdown and has no address; "
                      f"set [capture] network = {iface} ADDRESS/PREFIX [GATEWAY]")
    evidence["configured_by"] = "static (its current address)"
    gateway = route.gateway if route is not None and route.iface == iface else ""
    return NetPlan("static", iface, current, gateway), ""


def _ssh_problems(paths: HostPaths, tools: ToolRunner, target: SshTarget, evidence: dict[str, object]) -> list[tuple[str, str, str]]:
    """(reason, title, hint) for each thing that stops an ssh capture."""
    out: list[tuple[str, str, str]] = []
    propagate = f"run crashd propagate {target.url}"
    for tool in ("ssh", "makedumpfile"):
        if tools.which(tool) is None:
            pkg = "openssh-client" if tool == "ssh" else "makedumpfile"
            out.append((f"{tool}_missing", f"{tool} is not installed", f"apt install {pkg}"))
    key, known_hosts = key_files(paths.etc())
    evidence["key"] = paths.unhost(key)
    try:
        st = os.lstat(key)
    except OSError:
        out.append(("ssh_key_missing", f"the ssh key {paths.unhost(key)} is missing", propagate))
    else:
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
            out.append(("ssh_key_unsafe",
                        f"the ssh key {paths.unhost(key)} is not a regular file of root's with mode 0600",
                        f"chown root: {paths.unhost(key)} && chmod 0600 {paths.unhost(key)}"))
    name = target.host.strip("[]") if target.port == 22 else f"[{target.host.strip('[]')}]:{target.port}"
    if not known_hosts.is_file():
        out.append(("ssh_host_key_unknown", f"the host key of {name} is not pinned", propagate))
    else:
        rc, found, err = _run(tools, ["ssh-keygen", "-F", name, "-f", str(known_hosts)])
        if rc is None:
            out.append(("ssh_keygen_missing", f"cannot check the pinned host key: {err}", "apt install openssh-client"))
        elif rc != 0 or not found.strip():
            out.append(("ssh_host_key_unknown", f"the host key of {name} is not pinned", propagate))
    return out


def _nfs_problems(tools: ToolRunner, target: NfsTarget, reachable: bool,
                  evidence: dict[str, object]) -> tuple[list[tuple[str, str, str]], str]:
    """Problems, and a note when the export could not be checked."""
    out: list[tuple[str, str, str]] = []
    if tools.which("mount.nfs") is None:
        out.append(("nfs_client_missing", "mount.nfs is not installed", "apt install nfs-common"))
    if not reachable:
        return out, ""
    if tools.which("showmount") is None:
        return out, "showmount is not installed: the export was not checked"
    host = target.host.strip("[]")
    rc, listing, err = _run(tools, ["showmount", "--no-headers", "-e", "--", host])
    if rc != 0:
        return out, f"showmount -e {host} did not answer ({(err.strip().splitlines() or [f'exit {rc}'])[-1]}): " \
                    "an NFSv4-only server does not; the export was not checked"
    exports = [line.split()[0] for line in listing.splitlines() if line.strip()]
    evidence["exports"] = exports
    covered = any(target.export == e or target.export.startswith(e.rstrip("/") + "/") for e in exports)
    if not covered:
        out.append(("nfs_export_missing", f"{host} does not export {target.export}",
                    f"export it on {host} (/etc/exports, exportfs -ra) or fix [capture] target"))
    return out, ""


def assess_remote(paths: HostPaths, tools: ToolRunner, config: Config) -> RemoteAssessment:
    """The ``capture_remote`` check and the capture kernel's network plan."""
    value = config.capture.target
    title = "remote capture target"
    if not is_remote(value):
        return RemoteAssessment(OK, "local_target", title, evidence={"target": value})
    evidence: dict[str, object] = {"target": value}
    try:
        target = parse_remote(value)
        assert target is not None
        parse_network(config.capture.network)
    except ValueError as exc:
        return RemoteAssessment(MISSING, "remote_target_invalid", f"{value}: {exc}", "fix [capture] target", evidence)
    problems: list[tuple[str, str, str]] = []
    address, dns_problem = resolve(tools, target.host)
    evidence["address"] = address
    if address is None:
        problems.append(("remote_host_unresolved", f"the dump server {dns_problem}",
                         "fix the name (DNS, /etc/hosts) or give an address in [capture] target"))
    plan, net_problem = _plan(paths, tools, config, address, evidence)
    if net_problem:
        problems.append(("remote_no_route" if net_problem.startswith("no route") else "remote_network_unknown",
                         net_problem, "check the network configuration, or set [capture] network"))
    note = ""
    if isinstance(target, SshTarget):
        problems += _ssh_problems(paths, tools, target, evidence)
    else:
        nfs, note = _nfs_problems(tools, target, address is not None and not net_problem, evidence)
        problems += nfs
    if plan is not None:
        evidence["capture_network"] = plan.value()
    if problems:
        reason, what, hint = problems[0]
        evidence["problems"] = [p[0] for p in problems]
        evidence["problem"] = what  # the first one's words, without the URL (crashd test's verdict)
        return RemoteAssessment(MISSING, reason, f"the dump cannot be saved on {target.url}: {what}", hint,
                                evidence, plan)
    if note:
        evidence["note"] = note
        return RemoteAssessment(UNKNOWN, "nfs_export_unchecked", title, note, evidence, plan)
    return RemoteAssessment(OK, "ssh_ready" if isinstance(target, SshTarget) else "nfs_ready", title, "",
                            evidence, plan)
