"""A remote target checked before any crash, and the network the capture boot brings up.

Fake ``ip``/``getent``/``showmount``/``mount.nfs`` print what the real ones print
(shapes taken from Debian 12: ``ip -o route get``, ``getent ahosts``, ``showmount
--no-headers -e``); ``ssh-keygen -F`` is the real one when installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from crashd.arm.kexec import capture_cmdline
from crashd.arm.netplan import assess_remote
from crashd.arm.readiness import assess
from crashd.core.capnet import NetPlan, parse_network, plan_from_cmdline
from crashd.core.config import read_config
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from tests.fakeroot import armed_guest, build_root

SERVER = "192.0.2.10"
KNOWN = f"{SERVER} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOVn8aGT3Qy4yQnGcq6Ctl3pHgpUr2GkrF2Hwg1Ck0tQ\n"


def fake(bindir: Path, name: str, stdout: str = "", rc: int = 0, stderr: str = "") -> None:
    """An executable that logs its argv (one JSON line) and answers as the real tool would."""
    bindir.mkdir(exist_ok=True)
    log = bindir / "calls.log"
    script = (f"#!/usr/bin/env python3\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
              f"sys.stdout.write({stdout!r}); sys.stderr.write({stderr!r}); sys.exit({rc})\n")
    (bindir / name).write_text(script)
    (bindir / name).chmod(0o755)


def calls(bindir: Path) -> list[list[str]]:
    log = bindir / "calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


ROUTE = f"{SERVER} via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \\    cache \n"
GETENT = f"{SERVER}     STREAM dumps.example\n{SERVER}     DGRAM  \n{SERVER}     RAW    \n"
NETWORKD_LINK = "# This is private data. Do not parse.\nADMIN_STATE=configured\nOPER_STATE=routable\n" \
                "NETWORK_FILE=/etc/systemd/network/50-eth0.network\n"


def machine(tmp_path: Path, target: str, extra: dict[str, str | bytes | None] | None = None,
            conf: str = "") -> HostPaths:
    files: dict[str, str | bytes | None] = {
        **armed_guest(),
        "/etc/crashd.conf": f"[capture]\ntarget = {target}\n{conf}",
        "/etc/crashd/ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n",
        "/etc/crashd/ssh/known_hosts": KNOWN,
        "/sys/class/net/eth0/ifindex": "2\n",
        "/run/systemd/netif/links/2": NETWORKD_LINK,
        **(extra or {}),
    }
    paths = build_root(tmp_path / "root", {k: v for k, v in files.items() if v is not None})
    key = paths.etc("crashd", "ssh", "id_ed25519")
    if key.exists():
        os.chmod(key, 0o600)
    return paths


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    fake(d, "ip", ROUTE)
    fake(d, "getent", GETENT)
    fake(d, "ssh")
    fake(d, "makedumpfile")
    fake(d, "kexec")
    if shutil.which("ssh-keygen") is None:  # the real one reads known_hosts; this stands in
        fake(d, "ssh-keygen", f"# Host {SERVER} found: line 1\n{KNOWN}")
    return d


def runner(bindir: Path) -> ToolRunner:
    return ToolRunner(path=f"{bindir}:/usr/bin:/bin", confined=True, host_tools_path=str(bindir))


def remote(paths: HostPaths, bindir: Path):  # type: ignore[no-untyped-def]
    return assess_remote(paths, runner(bindir), read_config(paths).config)


def test_local_target_needs_no_network(tmp_path: Path, bindir: Path) -> None:
    r = remote(machine(tmp_path, "/var/crash"), bindir)
    assert (r.state, r.reason, r.cmdline) == ("ok", "local_target", ())
    assert calls(bindir) == []  # nothing asked of the network


def test_ssh_ready_through_networkd(tmp_path: Path, bindir: Path) -> None:
    r = remote(machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash"), bindir)
    assert (r.state, r.reason) == ("ok", "ssh_ready"), r.title
    assert r.plan == NetPlan("networkd", "eth0")
    assert r.cmdline == ("systemd.wants=systemd-networkd.service", "systemd.wants=crashd-capture-network.service",
                         "crashd.net=networkd:eth0")
    assert ["-o", "route", "get", SERVER] in calls(bindir)


def test_host_name_is_resolved_then_routed(tmp_path: Path, bindir: Path) -> None:
    paths = machine(tmp_path, "ssh://crash@dumps.example/srv/crash",
                    {"/etc/crashd/ssh/known_hosts": KNOWN.replace(SERVER, "dumps.example")})
    r = remote(paths, bindir)
    assert r.state == "ok", r.title
    assert ["ahosts", "--", "dumps.example"] in calls(bindir) and r.evidence["address"] == SERVER


def test_dns_failure_is_reported(tmp_path: Path, bindir: Path) -> None:
    fake(bindir, "getent", "", rc=2)
    r = remote(machine(tmp_path, "ssh://crash@nowhere.example/srv/crash"), bindir)
    assert (r.state, r.reason) == ("missing", "remote_host_unresolved")
    assert "nowhere.example does not resolve" in r.title


def test_no_route_is_reported(tmp_path: Path, bindir: Path) -> None:
    fake(bindir, "ip", "", rc=2, stderr="RTNETLINK answers: Network is unreachable\n")
    r = remote(machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash"), bindir)
    assert (r.state, r.reason) == ("missing", "remote_no_route")
    assert "Network is unreachable" in r.title and r.plan is None


def test_missing_key_and_unpinned_host_key(tmp_path: Path, bindir: Path) -> None:
    paths = machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash",
                    {"/etc/crashd/ssh/id_ed25519": None, "/etc/crashd/ssh/known_hosts": None})
    r = remote(paths, bindir)
    assert (r.state, r.reason) == ("missing", "ssh_key_missing")
    assert r.hint == f"run crashd propagate ssh://crash@{SERVER}/srv/crash"
    assert r.evidence["problems"] == ["ssh_key_missing", "ssh_host_key_unknown"]
    assert r.evidence["problem"] == "the ssh key /etc/crashd/ssh/id_ed25519 is missing"
    assert r.plan == NetPlan("networkd", "eth0")  # the network is still planned: the fallback may need none, but a fix may come


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="the real ssh-keygen reads known_hosts")
def test_host_key_for_another_host_or_port_is_not_pinned(tmp_path: Path, bindir: Path) -> None:
    r = remote(machine(tmp_path, f"ssh://crash@{SERVER}:2222/srv/crash"), bindir)
    assert (r.state, r.reason) == ("missing", "ssh_host_key_unknown")
    assert f"[{SERVER}]:2222" in r.title


def test_a_key_others_can_read_is_refused(tmp_path: Path, bindir: Path) -> None:
    paths = machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash")
    os.chmod(paths.etc("crashd", "ssh", "id_ed25519"), 0o644)
    assert remote(paths, bindir).reason == "ssh_key_unsafe"


def test_ifupdown_and_static_fallback(tmp_path: Path, bindir: Path) -> None:
    paths = machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash",
                    {"/run/systemd/netif/links/2": None, "/run/network/ifstate.eth0": "eth0\n"})
    assert remote(paths, bindir).plan == NetPlan("ifupdown", "eth0")
    # neither manager (NetworkManager, by hand): the interface's current address, statically
    os.unlink(paths.run("network", "ifstate.eth0"))
    addr = "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n"
    (bindir / "ip").write_text(
        "#!/bin/sh\ncase \"$*\" in *route*) printf '%s' " + repr(ROUTE) + " ;; *addr*) printf '%s' " + repr(addr)
        + " ;; esac\n")
    r = remote(paths, bindir)
    assert r.plan == NetPlan("static", "eth0", "192.0.2.2/24", "192.0.2.1")
    assert r.evidence["configured_by"] == "static (its current address)"


def test_configured_interface_and_static_setting(tmp_path: Path, bindir: Path) -> None:
    r = remote(machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash", conf="network = enp1s0 10.1.0.5/16 10.1.0.1\n"),
               bindir)
    assert r.plan == NetPlan("static", "enp1s0", "10.1.0.5/16", "10.1.0.1")
    r = remote(machine(tmp_path / "b", f"ssh://crash@{SERVER}/srv/crash", conf="network = none\n"), bindir)
    assert r.plan is None and r.state == "ok"


def test_nfs_export_listed_missing_or_unchecked(tmp_path: Path, bindir: Path) -> None:
    fake(bindir, "mount.nfs")
    fake(bindir, "showmount", "/srv/nfs/crash 192.0.2.0/24\n/home        *\n")
    r = remote(machine(tmp_path, f"nfs://{SERVER}/srv/nfs/crash"), bindir)
    # nfs://HOST/EXPORT[/PATH]: the export is the first component (/srv) — not exported
    assert (r.state, r.reason) == ("missing", "nfs_export_missing")
    r = remote(machine(tmp_path / "b", f"{SERVER}:/srv/nfs/crash"), bindir)
    assert (r.state, r.reason) == ("ok", "nfs_ready"), r.title
    assert ["--no-headers", "-e", "--", SERVER] in calls(bindir)
    fake(bindir, "showmount", "", rc=1, stderr="clnt_create: RPC: Program not registered\n")
    r = remote(machine(tmp_path / "c", f"{SERVER}:/srv/nfs/crash"), bindir)
    assert (r.state, r.reason) == ("unknown", "nfs_export_unchecked")
    os.unlink(bindir / "mount.nfs")
    r = remote(machine(tmp_path / "d", f"{SERVER}:/srv/nfs/crash"), bindir)
    assert (r.state, r.reason) == ("missing", "nfs_client_missing") and r.hint == "apt install nfs-common"


def test_status_is_degraded_and_the_capture_cmdline_carries_the_plan(tmp_path: Path, bindir: Path) -> None:
    paths = machine(tmp_path, f"ssh://crash@{SERVER}/srv/crash", {"/etc/crashd/ssh/id_ed25519": None})
    readiness = assess(paths, runner(bindir), read_config(paths).config)
    assert [c.name for c in readiness.degraded()] == ["capture_remote"]
    assert readiness.summary().startswith(f"armed, but the dump cannot be saved on ssh://crash@{SERVER}/srv/crash: "
                                          "the ssh key /etc/crashd/ssh/id_ed25519 is missing — run crashd propagate")
    line = capture_cmdline("root=/dev/vda systemd.wants=foo.service crashd.net=static:x:1.2.3.4/8", (), (),
                           "a" * 32, network=readiness.capture_network)
    assert "foo.service" not in line and "crashd.net=static" not in line
    assert plan_from_cmdline(line) == NetPlan("networkd", "eth0")
    assert line.split().count("systemd.wants=crashd-capture-network.service") == 1


def test_plan_round_trips_through_the_cmdline() -> None:
    for plan in (NetPlan("static", "eth0", "fd00::5/64", "fd00::1"), NetPlan("static", "eth0", "10.0.0.2/8"),
                 NetPlan("ifupdown", "enp1s0")):
        assert plan_from_cmdline(" ".join(["quiet", *plan.cmdline()])) == plan
    assert plan_from_cmdline("root=/dev/vda") is None
    for bad in ("static:eth0", "bogus:eth0", "networkd:eth0:1.2.3.4/8", "networkd:et/h0"):
        with pytest.raises(ValueError):
            NetPlan.from_value(bad)


@pytest.mark.parametrize("bad", ["eth0 10.0.0.1", "eth0 nonsense/24", "eth0 10.0.0.1/24 gw", "a b c d", "eth:0"])
def test_bad_network_settings(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_network(bad)
