"""Issue 13, off the host: a dump server and a client guest on a private QEMU link.

The two QEMU processes are joined by ``-netdev socket`` (``listen=127.0.0.1:PORT`` on the
server, ``connect=`` on the client): Ethernet frames travel over loopback between them, the
guests' addresses (10.77.0.0/24) exist only on that link, nothing leaves the machine.
The server runs Debian's openssh-server and nfs-kernel-server (the REMOTE_PACKAGES image
variant); each guest's network is systemd-networkd with a .network file matched by MAC.

One server boot serves the whole test; the client crashes three times with sysrq-c:
(a) ``ssh://root@10.77.0.1/srv/crash`` after ``crashd propagate`` (pins the host key),
(b) ``10.77.0.1:/srv/nfs``, (c) ssh again once the server has powered off: the dump falls
back to the client's /var/crash, complete, with the remote failure in capture.json.
Each capture boot brings its network up itself (crashd-capture-network.service, pulled in
by ``systemd.wants=`` on the capture command line). The ssh dump is read on the host with
``crashd dmesg``, ``makedumpfile -R`` and ``crash --osrelease``; the NFS one with ``crashd dmesg``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.vm.image import REMOTE_PACKAGES, GuestImage, build_base, build_image, debugfs, read_tree
from tests.vm.lab import REPO, Lab, kdump_cmdline, scale

pytestmark = pytest.mark.vm

SERVER_MAC, CLIENT_MAC = "52:54:00:77:00:01", "52:54:00:77:00:02"


def _network_file(mac: str, address: str) -> str:
    return f"[Match]\nMACAddress={mac}\n\n[Network]\nAddress={address}/24\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _remote_image(lab: Lab) -> GuestImage:
    t0 = time.monotonic()
    base = build_base(REMOTE_PACKAGES)
    lab.timings["remote base image (cached or built)"] = time.monotonic() - t0
    t1 = time.monotonic()
    image = build_image(lab.root / "image-remote", lab.deb, base=base)
    lab.timings["remote session image (.deb installed)"] = time.monotonic() - t1
    return image


def _chmod(disk: Path, path: str, mode: str) -> None:
    debugfs(disk, f"sif {path} mode {mode}", write=True)


def _crashd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crashd", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=600, check=False)


def _one(parent: Path) -> Path:
    dirs = [p for p in parent.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_ssh_nfs_and_server_down(lab: Lab, tmp_path: Path) -> None:
    t_start = time.monotonic()
    image = _remote_image(lab)
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "crashd", "-f", str(keys / "id")],
                   check=True)
    server = lab.scenario("remote-server", {"SCENARIO": "remote-server", "MAX_BOOTS": "1"}, {
        "/etc/systemd/network/50-vmtest.network": _network_file(SERVER_MAC, "10.77.0.1"),
        "/root/.ssh/authorized_keys": (keys / "id.pub").read_text(),
    }, image=image)
    client = lab.scenario("remote-client", {"SCENARIO": "remote-client", "MAX_BOOTS": "4"}, {
        "/etc/systemd/network/50-vmtest.network": _network_file(CLIENT_MAC, "10.77.0.2"),
        "/etc/crashd/ssh/id_ed25519": (keys / "id").read_text(),
        "/etc/crashd/ssh/id_ed25519.pub": (keys / "id.pub").read_text(),
    }, image=image)
    _chmod(server.disk, "/root/.ssh", "040700")
    _chmod(client.disk, "/etc/crashd/ssh", "040700")
    _chmod(client.disk, "/etc/crashd/ssh/id_ed25519", "0100600")
    port = _free_port()
    srv = lab.guest("remote-server", server, "root=/dev/vda rw console=ttyS0 panic=5", memory_mb=768, extra_args=[
        "-netdev", f"socket,id=n0,listen=127.0.0.1:{port}", "-device", f"virtio-net-pci,netdev=n0,mac={SERVER_MAC}"])
    cli = lab.guest("remote-client", client, kdump_cmdline("256M"), extra_args=[
        "-netdev", f"socket,id=n0,connect=127.0.0.1:{port}", "-device", f"virtio-net-pci,netdev=n0,mac={CLIENT_MAC}"])
    with srv.start():
        srv.wait_for(r".", 120 * scale())  # the server's QEMU runs, so it listens, before the client connects
        with cli.start():
            srv.wait_for(r"^VMTEST: server ready", 600 * scale())
            i = 0
            for what in ("ssh", "nfs"):
                i, _ = cli.wait_for(rf"^VMTEST: armed for .* \({what}\)", 900 * scale(), after=i)
                i, _ = cli.wait_for(r"^VMTEST: crashing", 120 * scale(), after=i)
            srv.wait_for(r"^VMTEST: finished", 900 * scale())
            srv.wait_exit(300 * scale())
            i, _ = cli.wait_for(r"^VMTEST: server is down", 600 * scale(), after=i)
            cli.wait_for(r"^VMTEST: finished", 1200 * scale(), after=i)
            cli.wait_exit(300 * scale())
    wall = time.monotonic() - t_start
    out = lab.outcome("remote-client", client)
    assert out.result == "ok", out.explain()

    # The dump server's disk: the ssh capture (flattened) and the NFS capture, each published whole.
    srv_out = tmp_path / "srv"
    read_tree(server.disk, "/srv", srv_out)
    ssh_dir = _one(srv_out / "srv" / "crash" / "crashd")
    nfs_dir = _one(srv_out / "srv" / "nfs" / "crashd")
    assert sorted(p.name for p in ssh_dir.iterdir()) == ["capture.json", "dmesg.txt", "vmcore.flat"]
    assert "vmcore.kdump" in {p.name for p in nfs_dir.iterdir()} and (nfs_dir / "capture.json").is_file()
    for d in (ssh_dir, nfs_dir):
        assert json.loads((d / "capture.json").read_text())["complete"] is True
        assert "sysrq triggered crash" in (d / "dmesg.txt").read_text(errors="replace")
    dm = _crashd("dmesg", str(ssh_dir / "vmcore.flat"))
    assert dm.returncode == 0 and "sysrq triggered crash" in dm.stdout, dm.stderr
    rearranged = tmp_path / "vmcore.kdump"
    with (ssh_dir / "vmcore.flat").open("rb") as flat:
        subprocess.run(["makedumpfile", "-R", str(rearranged)], stdin=flat, check=True, capture_output=True)
    dm2 = _crashd("dmesg", str(rearranged))
    assert dm2.returncode == 0 and dm2.stdout == dm.stdout, dm2.stderr
    if shutil.which("crash"):
        rel = subprocess.run(["crash", "--osrelease", str(rearranged)], capture_output=True, text=True, check=False)
        assert rel.stdout.strip() == image.release, rel.stdout + rel.stderr
        lab.figures.append(f"remote: crash --osrelease of the ssh dump: {rel.stdout.strip()}")
    dm3 = _crashd("dmesg", str(nfs_dir / "vmcore.kdump"))
    assert dm3.returncode == 0 and "sysrq triggered crash" in dm3.stdout, dm3.stderr

    # The client's records: where each dump lives, and the fallback.
    records = {r["name"]: r for r in out.records()}
    assert len(records) == 3, f"{records}\n{out.explain()}"
    metas = [json.loads((d / "metadata.json").read_text()) for d in out.record_dirs()]
    assert all(m["complete"] is True for m in metas), [m["capture"] for m in metas]
    locations = [(m["sources"]["vmcore"] or {}).get("location") for m in metas]
    assert f"ssh://root@10.77.0.1/srv/crash/crashd/{ssh_dir.name}/vmcore.flat" in locations, locations
    assert f"nfs://10.77.0.1/srv/nfs/crashd/{nfs_dir.name}/vmcore.kdump" in locations, locations
    (fallback,) = [m for m in metas if not (m["sources"]["vmcore"] or {}).get("location")]
    errors = " ".join(fallback["capture"]["errors"])
    assert "ssh://root@10.77.0.1/srv/crash" in errors and "the dump goes to the local target" in errors, errors
    assert any(name.startswith("vmcore") for name in fallback["files"]), fallback["files"]
    status = json.loads(out.text("status-ssh.json"))
    (remote_check,) = [c for c in status["checks"] if c["name"] == "capture_remote"]
    assert remote_check["state"] == "ok", remote_check
    assert "PRIVATE KEY" not in json.dumps(metas) + out.text("propagate.txt")
    lab.figures.append(f"remote (ssh, nfs, server down: 2 guests, 1 server boot, 3 client crashes): "
                       f"{wall:.0f} s wall; fallback errors: {errors[:300]}")
    lab.discard("remote-client")
    lab.discard("remote-server")
