"""Issue 13 item 8: off-host capture between two real guests on a private QEMU link.

The dump server is a Debian 12 guest running Debian's ``openssh-server`` and
``nfs-kernel-server``; the client is the crashing machine. They share one virtual
Ethernet link: the client's QEMU listens on a loopback port
(``-netdev socket,listen=127.0.0.1:PORT``), the server's connects to it, so frames travel
between the two QEMU processes only and the guests' addresses (10.77.0.0/24) exist
nowhere else. Both configure the link with systemd-networkd, so crashd plans the capture
kernel's network from networkd's link state, as on a real machine.

One client run crashes three times with sysrq-c:

a. ``ssh://root@SERVER/srv/crash`` after ``crashd propagate --yes`` (the key pair is made
   on the host and its public half put in the server's authorized_keys beforehand, as
   configuration management would; propagate pins the host key it scans and finds the
   key installed); the dump is streamed with ``makedumpfile -F`` into the server's spool;
b. ``nfs://SERVER/export/crash``: the export mounted in the capture kernel;
c. the ssh target again with the server powered off: the capture falls back to the
   local target, the record is complete, capture.json names the remote failure.

Then, on the host: the server's spool read back from its disk — ``crashd dmesg`` on
``vmcore.flat``, ``makedumpfile -R`` and ``crash --osrelease`` on the result,
``crashd list --spool`` / ``ingest --spool``, the NFS dump with ``crashd dmesg`` — and the
client's journal export through ``systemd-journal-remote`` into a collector journal,
where ``crashd list --journal`` counts the three crashes under one signature.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli import run_crashd
from tests.vm.hostcli import collector_view
from tests.vm.image import REMOTE_PACKAGES, put_symlinks, read_tree, set_modes
from tests.vm.lab import Lab, Outcome, Run, kdump_cmdline
from tests.vm.qemu import Guest

pytestmark = pytest.mark.vm

SERVER, CLIENT = "10.77.0.1", "10.77.0.2"
SERVER_MAC, CLIENT_MAC = "52:54:00:77:00:01", "52:54:00:77:00:02"
SSH_TARGET = f"ssh://root@{SERVER}/srv/crash"
NFS_TARGET = f"nfs://{SERVER}/export/crash"
SERVER_HOST = "crashd-dumpserver"

NETWORKD_ENABLED = {  # what `systemctl enable systemd-networkd` makes
    "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service": "/lib/systemd/system/systemd-networkd.service",
    "/etc/systemd/system/sockets.target.wants/systemd-networkd.socket": "/lib/systemd/system/systemd-networkd.socket",
    "/etc/systemd/system/dbus-org.freedesktop.network1.service": "/lib/systemd/system/systemd-networkd.service",
}


def _network_file(mac: str, address: str) -> str:
    return f"[Match]\nMACAddress={mac}\n\n[Network]\nAddress={address}/24\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _key_pair(where: Path) -> tuple[bytes, bytes]:
    where.mkdir(parents=True, exist_ok=True)
    key = where / "id_ed25519"
    key.unlink(missing_ok=True)
    Path(f"{key}.pub").unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "crashd", "-f", str(key)], check=True)
    return key.read_bytes(), Path(f"{key}.pub").read_bytes()


def _check(outcome: Outcome, name: str) -> dict[str, Any]:
    checks = json.loads(outcome.text(name) or "{}").get("checks", [])
    by_name = {c["name"]: c for c in checks}
    assert "capture_remote" in by_name, f"{name}: {outcome.text(name)[-2000:]}"
    return dict(by_name["capture_remote"])


def _capture_json(record: Path) -> dict[str, Any]:
    meta = json.loads((record / "metadata.json").read_text())
    return dict(meta.get("capture") or {})


def _server_captures(tree: Path) -> list[Path]:
    spool = tree / "crashd"
    return sorted(p for p in spool.iterdir() if p.is_dir()) if spool.is_dir() else []


def test_ssh_nfs_and_server_down(lab: Lab, tmp_path: Path) -> None:
    t0 = time.monotonic()
    image = lab.image_with("remote", REMOTE_PACKAGES)
    private, public = _key_pair(tmp_path / "key")
    port = _free_port()

    client_img = lab.scenario(
        "remote-client",
        {"SCENARIO": "remote", "MAX_BOOTS": "4", "SERVER": SERVER, "NFS_TARGET": NFS_TARGET},
        {
            "/etc/crashd.conf.d/50-vmtest-remote.conf": f"[capture]\ntarget = {SSH_TARGET}\n",
            "/etc/systemd/network/50-vmtest.network": _network_file(CLIENT_MAC, CLIENT),
            "/etc/crashd/ssh/id_ed25519": private,
            "/etc/crashd/ssh/id_ed25519.pub": public,
        },
        image=image,
    )
    put_symlinks(client_img.disk, {**NETWORKD_ENABLED,
                                   "/etc/systemd/system/ssh.service": "/dev/null",
                                   "/etc/systemd/system/nfs-server.service": "/dev/null"})
    set_modes(client_img.disk, {"/etc/crashd/ssh": 0o700, "/etc/crashd/ssh/id_ed25519": 0o600})
    server_img = lab.scenario(
        "remote-server",
        {"SCENARIO": "server", "MAX_BOOTS": "1"},
        {
            "/etc/hostname": f"{SERVER_HOST}\n",
            "/etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {SERVER_HOST}\n",
            "/etc/machine-id": "9d3c1e7a5b2f4d6c8e0a1b3c5d7e9f01\n",
            "/etc/systemd/network/50-vmtest.network": _network_file(SERVER_MAC, SERVER),
            "/etc/exports": "/export 10.77.0.0/24(rw,sync,no_subtree_check,no_root_squash)\n",
            "/root/.ssh/authorized_keys": public,
        },
        image=image,
    )
    put_symlinks(server_img.disk, NETWORKD_ENABLED)
    lab.timings["remote: images"] = time.monotonic() - t0

    client_guest = lab.guest(
        "remote-client", client_img, kdump_cmdline("256M"),
        extra_args=["-netdev", f"socket,id=n0,listen=127.0.0.1:{port}",
                    "-device", f"virtio-net-pci,netdev=n0,mac={CLIENT_MAC}"],
    )
    server_guest = Guest(
        server_img, "root=/dev/vda rw console=ttyS0 panic=5", lab.root / "remote-server" / "console.log",
        memory_mb=512, cpus=1,
        extra_args=["-netdev", f"socket,id=n0,connect=127.0.0.1:{port}",
                    "-device", f"virtio-net-pci,netdev=n0,mac={SERVER_MAC}"],
    )
    run = Run(lab, "remote-client", client_img, client_guest)
    with client_guest:
        time.sleep(1)  # the listening side first
        with server_guest:
            server_guest.wait_for(r"^VMTEST: server up", 600)
            run.expect(r"^VMTEST: server \S+ reachable", 600)
            steps: dict[str, float] = {}
            at = 0
            for step, boot in (("ssh", 1), ("nfs", 2), ("server-down", 3)):
                at = run.expect(rf"^VMTEST: armed for {re.escape(step)} ", 600, after=at)
                panic = run.expect(r"Kernel panic - not syncing: sysrq triggered crash", 120, after=at)
                back = run.expect(rf"^VMTEST: boot {boot + 1} ", 900, after=panic)
                steps[step] = client_guest.lines[back].t - client_guest.lines[panic].t
                if step == "nfs":
                    server_guest.wait_exit(300)  # powered off by the client at boot 3, before (c)
            outcome = run.finish(600)
    lab.timings["remote: three crashes (panic -> back up, s)"] = sum(steps.values())
    lab.figures.append("remote: panic -> next boot: " + ", ".join(f"{k} {v:.0f} s" for k, v in steps.items()))
    _check_client(outcome, private, server_img.disk, lab)
    lab.discard("remote-client")
    lab.discard("remote-server")


def _check_client(outcome: Outcome, private: bytes, server_disk: Path, lab: Lab) -> None:
    """What the client left: the checks before and after propagate, three complete records."""
    assert outcome.result == "ok", outcome.explain()

    # before propagate: the check said what was missing, before any crash
    unready = _check(outcome, "status-unpropagated.json")
    assert unready["state"] != "ok" and unready["reason"] == "ssh_host_key_unknown", unready
    assert outcome.text("status-unpropagated.rc").strip() == "4", outcome.text("status-unpropagated.json")[-2000:]
    dry = outcome.text("test-dry-run-unpropagated.txt")
    assert outcome.text("test-dry-run-unpropagated.rc").strip() == "4", dry
    assert dry.startswith(f"a crash now would be captured, but not on {SSH_TARGET}: ") and "host key" in dry, dry
    assert "pinned in /etc/crashd/ssh/known_hosts" in outcome.text("propagate.txt"), outcome.text("propagate.txt")
    for step in ("ssh", "nfs", "server-down"):
        assert _check(outcome, f"status-{step}.json")["state"] == "ok", outcome.text(f"status-{step}.json")[-2000:]

    records = outcome.records()
    assert len(records) == 3, f"{records}\n{outcome.explain()}"
    dirs = {d.name: d for d in outcome.record_dirs()}
    by_time = sorted(records, key=lambda r: str(r["name"]))
    ssh_rec, nfs_rec, down_rec = (dirs[str(r["name"])] for r in by_time)
    assert all(r["complete"] is True for r in records), records

    # (a) ssh: the crashed machine's record points at the server's copy
    meta = json.loads((ssh_rec / "metadata.json").read_text())
    location = str(meta["sources"]["vmcore"].get("location") or "")
    assert location.startswith(f"{SSH_TARGET}/crashd/"), meta["sources"]
    assert "sysrq triggered crash" in (ssh_rec / "dmesg.txt").read_text(errors="replace")
    assert f"on the dump server: {location}" in outcome.text(f"show-{ssh_rec.name}.txt"), outcome.text(
        f"show-{ssh_rec.name}.txt")
    # (b) NFS
    nfs_meta = json.loads((nfs_rec / "metadata.json").read_text())
    nfs_location = str(nfs_meta["sources"]["vmcore"].get("location") or "")
    assert nfs_location.startswith(f"{NFS_TARGET}/crashd/"), nfs_meta["sources"]
    # (c) server down: a whole local dump, and capture.json says why the server did not get it
    down = _capture_json(down_rec)
    assert down.get("complete") is True and not down.get("remote_location"), down
    assert (down_rec / "vmcore").is_file() or list(down_rec.glob("vmcore*")), sorted(p.name for p in down_rec.iterdir())
    assert any(SERVER in e for e in down.get("errors", [])), down

    # secrets: the private key is in no record, journal (the driver's copies), nor on the console
    key_text = private.decode().strip().splitlines()[1].encode()
    for f in [*outcome.out.rglob("*"), outcome.out.parent / "console.log"]:
        if f.is_file() and f.stat().st_size < 64 << 20:
            assert key_text not in f.read_bytes(), f

    _server_side(lab, server_disk, meta, nfs_meta, location, nfs_location)
    _fleet_journal(outcome, records)


def _server_side(lab: Lab, disk: Path, meta: dict[str, Any], nfs_meta: dict[str, Any],
                 location: str, nfs_location: str) -> None:
    """The server's spools read back from its disk after its clean poweroff."""
    out = lab.root / "remote-server" / "out"
    shutil.rmtree(out, ignore_errors=True)
    ssh_tree = read_tree(disk, "/srv/crash", out / "ssh")
    nfs_tree = read_tree(disk, "/export/crash", out / "nfs")
    (ssh_capture,) = _server_captures(ssh_tree)
    assert location.startswith(f"{SSH_TARGET}/crashd/{ssh_capture.name}/"), (location, ssh_capture)
    names = sorted(p.name for p in ssh_capture.iterdir())
    assert {"dmesg.txt", "vmcore.flat", "capture.json"} <= set(names), names
    server_json = json.loads((ssh_capture / "capture.json").read_text())
    assert server_json.get("complete") is True and server_json.get("hostname") == "crashd-vm", server_json
    assert "BEGIN OPENSSH" not in (ssh_capture / "capture.json").read_text()

    flat = ssh_capture / "vmcore.flat"
    dmesg = run_crashd(["dmesg", str(flat)])
    assert dmesg.returncode == 0 and "sysrq triggered crash" in dmesg.stdout, dmesg.stderr[-2000:]
    vmcore = out / "vmcore"
    with flat.open("rb") as f:
        subprocess.run(["makedumpfile", "-R", str(vmcore)], stdin=f, check=True, capture_output=True)
    release = str(meta["kernel"]["release"])
    osrel = subprocess.run(["crash", "--osrelease", str(vmcore)], capture_output=True, text=True, timeout=300)
    assert osrel.stdout.strip() == release, (osrel.stdout, osrel.stderr[-2000:])
    lab.figures.append(f"remote: ssh dump {flat.stat().st_size / 2**20:.1f} MiB flattened, "
                       f"{vmcore.stat().st_size / 2**20:.1f} MiB after makedumpfile -R")

    (nfs_capture,) = _server_captures(nfs_tree)
    assert nfs_location.startswith(f"{NFS_TARGET}/crashd/{nfs_capture.name}/"), (nfs_location, nfs_capture)
    dumps = [p for p in nfs_capture.iterdir() if p.name.startswith("vmcore")]
    assert dumps, sorted(p.name for p in nfs_capture.iterdir())
    nfs_dmesg = run_crashd(["dmesg", str(dumps[0])])
    assert nfs_dmesg.returncode == 0 and "sysrq triggered crash" in nfs_dmesg.stdout, nfs_dmesg.stderr[-2000:]
    assert nfs_meta["kernel"]["release"] == release

    # the server-side view: the spool read in place, then records made in a separate store
    listed = run_crashd(["list", "--spool", str(ssh_tree), "--json"])
    assert listed.returncode == 0, listed.stderr
    assert "crashd-vm" in json.dumps(json.loads(listed.stdout)), listed.stdout[-2000:]
    store = lab.root / "remote-server" / "store"
    shutil.rmtree(store, ignore_errors=True)
    ingested = run_crashd(["ingest", "--spool", str(ssh_tree), "--store", str(store)])
    assert ingested.returncode == 0, ingested.stderr
    assert [p.name for p in store.iterdir() if p.is_dir()] == ["crashd-vm"], list(store.iterdir())


def _fleet_journal(outcome: Outcome, records: list[dict[str, Any]]) -> None:
    """The client's record entries, exported as systemd-journal-upload ships them, through
    systemd-journal-remote into a collector journal: one host, three crashes, one signature."""
    view = collector_view(outcome.driver / "out" / "record-created.export", outcome.out.parent / "collector.journal",
                          outcome.text("record-created.export.err"))
    assert sorted(c["record"] for c in view["crashes"]) == sorted(r["name"] for r in records), view
    signatures = {r["signature"] for r in records}
    assert len(signatures) == 1, records
    (sig,) = view["signatures"]
    assert sig["count"] == 3 and sig["hosts"] == ["crashd-vm"], sig
