"""The capture boot's network (crashd capture-network) and what the save does with it;
NFS mounted with retries within a deadline.

Fakes answer as the real tools do: ``ip -o addr show`` prints nothing for an
interface without a global address, ``mount`` exits 32 with mount.nfs's wording."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from crashd.capture import netup, remote_ssh
from crashd.capture.netup import NetResult, bring_up, read_result, write_result
from crashd.capture.save import Saver
from crashd.capture.spool import SPOOL_DIR
from crashd.cli import main
from crashd.core.capnet import NetPlan
from crashd.core.config import default_config
from crashd.core.paths import HostPaths
from crashd.core.target import TargetError, open_target
from crashd.core.tools import ToolRunner
from tests.fakeroot import build_root

from .elfcore import PAGE, Load, pattern, write_core

FAKES = Path(__file__).resolve().parents[2] / "fakes"
BOOT_ID = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"
ADDR = "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n"
ROUTE = "192.0.2.10 dev eth0 src 192.0.2.2 uid 0 \\    cache \n"


def fake_ip(bindir: Path, address_after: int | None) -> None:
    """``ip``: logs argv; ``addr show`` lists the address from the Nth call on (never: None)."""
    bindir.mkdir(exist_ok=True)
    n = "None" if address_after is None else str(address_after)
    (bindir / "ip").write_text(f"""#!/usr/bin/env python3
import json, os, sys
d = {str(bindir)!r}
open(os.path.join(d, "ip.log"), "a").write(json.dumps(sys.argv[1:]) + "\\n")
a = sys.argv[1:]
if "addr" in a and "show" in a:
    c = os.path.join(d, "addr.count")
    k = int(open(c).read()) if os.path.exists(c) else 0
    open(c, "w").write(str(k + 1))
    if {n} is not None and k >= {n}:
        sys.stdout.write({ADDR!r})
elif "route" in a and "get" in a:
    sys.stdout.write({ROUTE!r})
""")
    (bindir / "ip").chmod(0o755)


def ip_calls(bindir: Path) -> list[list[str]]:
    p = bindir / "ip.log"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def tools(bindir: Path) -> ToolRunner:
    return ToolRunner(path=f"{bindir}:{FAKES}:/usr/bin:/bin", confined=True, host_tools_path=f"{bindir}:{FAKES}")


def test_static_plan_configures_then_waits_for_the_address(tmp_path: Path) -> None:
    fake_ip(tmp_path / "bin", address_after=3)
    clock = Clock()
    r = bring_up(tools(tmp_path / "bin"), NetPlan("static", "eth0", "192.0.2.2/24", "192.0.2.1"), "192.0.2.10", 60,
                 say=lambda _: None, sleep=clock.sleep, clock=clock)
    assert r.ok and "routes to 192.0.2.10" in r.message
    got = ip_calls(tmp_path / "bin")
    assert got[:3] == [["link", "set", "dev", "eth0", "up"], ["addr", "replace", "192.0.2.2/24", "dev", "eth0"],
                       ["route", "replace", "default", "via", "192.0.2.1", "dev", "eth0"]]
    assert ["-o", "route", "get", "192.0.2.10"] in got
    assert 0 < clock.t < 60


def test_network_that_never_comes_up_ends_at_the_deadline(tmp_path: Path) -> None:
    fake_ip(tmp_path / "bin", address_after=None)
    clock = Clock()
    r = bring_up(tools(tmp_path / "bin"), NetPlan("networkd", "eth0"), "192.0.2.10", 20,
                 say=lambda _: None, sleep=clock.sleep, clock=clock)
    assert not r.ok and r.message == "eth0 has no address after 20 s (network_timeout)"
    assert clock.t == pytest.approx(20, abs=1.01)
    assert all(c[0] != "link" for c in ip_calls(tmp_path / "bin"))  # networkd configures; crashd only waits


def test_ifupdown_runs_ifup_for_the_one_interface(tmp_path: Path) -> None:
    fake_ip(tmp_path / "bin", address_after=0)
    (tmp_path / "bin" / "ifup").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/ifup.args\n")
    (tmp_path / "bin" / "ifup").chmod(0o755)
    clock = Clock()
    r = bring_up(tools(tmp_path / "bin"), NetPlan("ifupdown", "enp1s0"), "192.0.2.10", 30,
                 say=lambda _: None, sleep=clock.sleep, clock=clock)
    assert r.ok and (tmp_path / "ifup.args").read_text() == "enp1s0\n"


def test_capture_network_verb_writes_the_result(tmp_path: Path) -> None:
    fake_ip(tmp_path / "bin", address_after=None)
    paths = build_root(tmp_path / "root", {
        "/proc/cmdline": "root=/dev/vda systemd.unit=crashd-capture.target crashd.net=networkd:eth0\n",
        "/etc/crashd.conf": "[capture]\ntarget = ssh://crash@192.0.2.10/srv/crash\nnetwork_timeout = 1s\n",
    })
    rc = main(["capture-network", "--root", str(paths.root), "--tools-path", str(tmp_path / "bin")])
    assert rc == 1
    r = read_result(paths)
    assert r is not None and not r.ok and r.plan == "networkd:eth0" and "no address after 1 s" in r.message
    # no plan on the command line: nothing to do, nothing written
    paths.cmdline.write_text("root=/dev/vda\n")
    os.unlink(paths.state_dir / netup.RESULT_FILE)
    assert main(["capture-network", "--root", str(paths.root), "--tools-path", str(tmp_path / "bin")]) == 3
    assert read_result(paths) is None


@pytest.fixture
def vmcore_root(tmp_path: Path) -> HostPaths:
    paths = build_root(tmp_path / "root", {
        "/proc/cmdline": f"console=ttyS0 crashd.boot_id={BOOT_ID} crashd.net=networkd:eth0\n",
        "/var/crash/": "",
        "/etc/crashd/ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n",
        "/etc/crashd/ssh/known_hosts": "192.0.2.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKE\n",
    })
    write_core(paths.vmcore, [Load(64 * PAGE, pages=pattern(1)), Load(32 * PAGE)], release="6.1.0-56-amd64")
    return paths


def _save(paths: HostPaths, runner: ToolRunner, target: str):  # type: ignore[no-untyped-def]
    config = dataclasses.replace(default_config().capture, target=target)
    return Saver(paths, runner, config, console=io.StringIO(), mount_deadline=0).run()


def _local_record(paths: HostPaths) -> tuple[list[str], dict[str, object]]:
    (d,) = [p for p in paths.var("crash", SPOOL_DIR).iterdir() if p.is_dir()]
    return sorted(p.name for p in d.iterdir()), json.loads((d / "capture.json").read_text())


def test_ssh_save_skips_a_network_that_did_not_come_up(vmcore_root: HostPaths, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote_ssh, "RETRY_PAUSE", 0.0)
    write_result(vmcore_root, NetResult(False, "networkd:eth0", "eth0 has no address after 60 s (network_timeout)", 60.0))
    runner = ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env={**os.environ, "FAKE_SSH_COUNTER": str(tmp_path / "n")})
    outcome = _save(vmcore_root, runner, "ssh://crash@192.0.2.10/srv/crash")
    files, rec = _local_record(vmcore_root)
    assert files == ["capture.json", "dmesg.txt", "vmcore.kdump"]
    assert rec["complete"] is True and outcome.complete
    assert rec["errors"] == ["capture target ssh://crash@192.0.2.10/srv/crash: the network did not come up: "
                             "eth0 has no address after 60 s (network_timeout) -> the dump goes to the local target"]
    assert not (tmp_path / "n").exists()  # ssh never ran


def test_nfs_save_with_no_network_mounts_nothing_and_keeps_the_dump_locally(vmcore_root: HostPaths,
                                                                           tmp_path: Path) -> None:
    write_result(vmcore_root, NetResult(False, "networkd:eth0", "eth0 has no address after 60 s (network_timeout)", 60.0))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mount").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/mount.log\nexit 32\n")
    (bindir / "mount").chmod(0o755)
    outcome = _save(vmcore_root, tools(bindir), "nfs://192.0.2.10/srv")
    files, rec = _local_record(vmcore_root)
    assert files == ["capture.json", "dmesg.txt", "vmcore.kdump"] and rec["complete"] is True and outcome.complete
    assert "the network did not come up" in str(rec["errors"])
    assert not (tmp_path / "mount.log").exists()


def test_nfs_server_down_after_the_network_came_up_falls_back_with_the_mount_error(vmcore_root: HostPaths,
                                                                                  tmp_path: Path) -> None:
    write_result(vmcore_root, NetResult(True, "networkd:eth0", "eth0 is up", 3.0))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mount").write_text("#!/bin/sh\necho 'mount.nfs: Connection refused' >&2\nexit 32\n")
    (bindir / "mount").chmod(0o755)
    outcome = _save(vmcore_root, tools(bindir), "nfs://192.0.2.10/srv")
    files, rec = _local_record(vmcore_root)
    assert files == ["capture.json", "dmesg.txt", "vmcore.kdump"] and outcome.complete
    assert any("cannot mount after 1 attempts: mount.nfs: Connection refused" in e for e in rec["errors"])
    assert rec["steps"][0] == "network networkd:eth0: eth0 is up (3.0 s)"


def _mount_fake(bindir: Path, fail_times: int) -> Path:
    bindir.mkdir(exist_ok=True)
    log = bindir / "mount.log"
    (bindir / "mount").write_text(f"""#!/usr/bin/env python3
import json, sys
log = {str(log)!r}
n = sum(1 for _ in open(log)) if __import__("os").path.exists(log) else 0
open(log, "a").write(json.dumps(sys.argv[1:]) + "\\n")
if n < {fail_times}:
    sys.stderr.write("mount.nfs: No route to host\\n"); sys.exit(32)
""")
    (bindir / "mount").chmod(0o755)
    (bindir / "umount").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "umount").chmod(0o755)
    return log


def test_nfs_mount_argv_and_retries_until_it_mounts(tmp_path: Path) -> None:
    paths = build_root(tmp_path / "root", {"/run/": ""})
    log = _mount_fake(tmp_path / "bin", fail_times=2)
    sleeps: list[float] = []
    with open_target("nfs://nas.lan/export/crash/box1", "vers=4.2", paths, tools(tmp_path / "bin"),
                     deadline=30, sleep=sleeps.append) as target:
        assert target.mounted and target.path == paths.run("crashd", "target", "crash", "box1")
    argvs = [json.loads(x) for x in log.read_text().splitlines()]
    mp = str(paths.run("crashd", "target"))
    assert argvs == [["-t", "nfs", "-o", "nolock,vers=4.2", "nas.lan:/export", mp]] * 3
    assert sleeps == [1.0, 1.0]


def test_nfs_mount_gives_up_at_the_deadline(tmp_path: Path) -> None:
    paths = build_root(tmp_path / "root", {"/run/": ""})
    log = _mount_fake(tmp_path / "bin", fail_times=10**6)
    with pytest.raises(TargetError, match=r"nas.lan:/export: cannot mount after 1 attempts: mount.nfs: No route to host"):
        with open_target("nas.lan:/export", "", paths, tools(tmp_path / "bin"), deadline=0, sleep=lambda _: None):
            pass
    assert len(log.read_text().splitlines()) == 1


def test_nfs_capture_also_keeps_dmesg_and_capture_json_locally(vmcore_root: HostPaths, tmp_path: Path) -> None:
    _mount_fake(tmp_path / "bin", fail_times=0)  # mounts "nothing": the mount point is the export
    outcome = _save(vmcore_root, tools(tmp_path / "bin"), "nas.lan:/srv/nfs")
    assert outcome.complete
    (on_server,) = [p for p in vmcore_root.run("crashd", "target", SPOOL_DIR).iterdir()]
    assert sorted(p.name for p in on_server.iterdir()) == ["capture.json", "dmesg.txt", "vmcore.kdump"]
    files, rec = _local_record(vmcore_root)
    assert files == ["capture.json", "dmesg.txt"]
    assert rec["remote_location"] == f"nfs://nas.lan/srv/nfs/crashd/{on_server.name}/vmcore.kdump"
    assert rec["complete"] is True and rec["dump_file"] is None
    (local,) = [p for p in vmcore_root.var("crash", SPOOL_DIR).iterdir()]
    assert local.name == on_server.name
