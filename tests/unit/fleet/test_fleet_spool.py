"""A dump server's spool of many machines: listed and recorded per host; hostile
entries skipped one by one, never blocking the others (issue 13, item 6)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import pytest

from crashd.capture import remote_ssh
from crashd.capture.save import Saver
from crashd.capture.spool import SPOOL_DIR
from crashd.core.config import default_config
from crashd.core.errors import UnsafePathError
from crashd.core.tools import ToolRunner
from crashd.ingest.fleet_spool import MAX_CAPTURE_JSON, ingest_spool, scan_spool, spool_view
from tests.fakeroot import build_root
from tests.integration.cli import run_crashd
from tests.unit.ingest.scenario import PANIC, capture_json, pstore_text, sysrq_messages
from tests.vmcore_builder import write_elf_vmcore

FAKES = Path(__file__).resolve().parents[2] / "fakes"
HOSTS = {"web-07": ("5c1b0d9f3e2a4c6b8d7e9f0a1b2c3d4e", "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"),
         "db-3": ("0123456789abcdef0123456789abcdef", "9a8b7c6d8c1e4a539d558c2ba3b7e1a2")}
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def capture_over_ssh(tmp_path: Path, server: Path, host: str) -> None:
    """The real capture path: crashd save on a machine named ``host``, target ssh:// into ``server``."""
    mid, boot = HOSTS[host]
    paths = build_root(tmp_path / host, {
        "/proc/cmdline": f"console=ttyS0 crashd.boot_id={boot}\n",
        "/var/crash/": "",
        "/etc/hostname": host + "\n",
        "/etc/machine-id": mid + "\n",
        "/etc/crashd/ssh/id_ed25519": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n",
        "/etc/crashd/ssh/known_hosts": "dumps.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFAKE\n",
    })
    write_elf_vmcore(paths.vmcore, sysrq_messages())
    config = dataclasses.replace(default_config().capture, target=f"ssh://crash@dumps.example{server}")
    outcome = Saver(paths, ToolRunner(path=f"{FAKES}:/usr/bin:/bin", env=dict(os.environ)), config,
                    console=io.StringIO(), mount_deadline=0).run()
    assert outcome.complete, outcome.record["errors"]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dump server's target PATH after two machines crashed into it."""
    monkeypatch.setattr(remote_ssh, "RETRY_PAUSE", 0.0)
    d = tmp_path / "srv" / "crash"
    d.mkdir(parents=True, mode=0o700)
    for host in HOSTS:
        capture_over_ssh(tmp_path, d, host)
    return d


def plant(spool: Path, name: str, info: dict[str, object] | bytes | None, dmesg: str | None = None) -> Path:
    d = spool / name
    d.mkdir(mode=0o700)
    if dmesg is not None:
        (d / "dmesg.txt").write_text(dmesg)
    if isinstance(info, bytes):
        (d / "capture.json").write_bytes(info)
    elif info is not None:
        (d / "capture.json").write_text(json.dumps(info))
    return d


def test_list_groups_the_servers_captures_by_host(server: Path) -> None:
    view = spool_view(scan_spool(server))  # the target PATH: its crashd/ is found
    assert sorted(c.host for c in view.crashes) == ["db-3", "web-07"]
    assert {c.machine_id for c in view.crashes} == {v[0] for v in HOSTS.values()}
    assert all(c.panic == PANIC and c.kernel == "6.1.0-56-amd64" for c in view.crashes)
    assert all(c.location and c.location.endswith("/vmcore.flat") for c in view.crashes)
    (sig,) = view.signatures()
    assert sig["count"] == 2 and sig["hosts"] == ["db-3", "web-07"]
    assert view.problems == []


def test_list_spool_cli_json_and_table(server: Path) -> None:
    res = run_crashd(["list", "--spool", str(server / SPOOL_DIR), "--json"])
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert [h["host"] for h in data["hosts"]] == ["db-3", "web-07"]
    assert data["signatures"][0]["count"] == 2
    res = run_crashd(["list", "--spool", str(server)])
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0].split()[:3] == ["TIME", "HOST", "CAPTURE"]
    assert "2 crash(es) on 2 host(s), 1 signature(s)" in res.stdout
    res = run_crashd(["list", "--spool", str(server), "--journal"])
    assert res.returncode == 2 and "two different views" in res.stderr


def test_hostile_entries_are_skipped_one_by_one(server: Path, tmp_path: Path) -> None:
    spool = server / SPOOL_DIR
    good = capture_json("0f5c3b5e8c1e4a539d558c2ba3b7e1a2") | {"hostname": "x-1"}
    outside = plant(tmp_path, "20261201T000000-aaaaaaaa", good, "log")
    (spool / "20261201T000000-aaaaaaaa").symlink_to(outside)
    plant(spool, "20261201T000001-bbbbbbbb", b'{"schema": 1, "hostname": "big", "pad": "' + b"x" * MAX_CAPTURE_JSON + b'"}')
    plant(spool, "20261201T000002-cccccccc", b"{garbled")
    plant(spool, "20261201T000003-dddddddd", b"[1, 2]")
    plant(spool, "20261201T000004-eeeeeeee", None, "log only")
    fifo = plant(spool, "20261201T000005-ffffffff", None)
    os.mkfifo(fifo / "capture.json")
    link = plant(spool, "20261201T000006-0000aaaa", good)
    (link / "dmesg.txt").symlink_to("/etc/shadow")
    open_dir = plant(spool, "20261201T000007-0000bbbb", good)
    open_dir.chmod(0o777)
    plant(spool, "20261201T000008-0000cccc.incomplete", good)
    plant(spool, "20261201T000009-0000dddd", good | {"hostname": "../../etc", "machine_id": "x"}, PANIC)
    scan = scan_spool(spool)
    reasons = "\n".join(scan.skipped)
    assert len(scan.skipped) == 8, reasons
    for needle in ("000000-aaaaaaaa: is a symlink", "000001-bbbbbbbb/capture.json: is 1048619 bytes, more than the 1048576 allowed",
                   "000002-cccccccc/capture.json: is not valid JSON", "000003-dddddddd/capture.json: is not a JSON object",
                   "000004-eeeeeeee: has no capture.json", "000005-ffffffff/capture.json: is not a regular file",
                   "000006-0000aaaa/dmesg.txt: is a symlink", "000007-0000bbbb: is group/world-writable"):
        assert needle in reasons, (needle, reasons)
    assert scan.pending == [f"{spool}/20261201T000008-0000cccc.incomplete: still being written, or the capture "
                            "was cut short; not read"]
    # The two real captures and the one with a hostile hostname (kept, host unknown) are read.
    hosts = sorted(e.host_label for e in scan.entries)
    assert hosts == ["db-3", "unknown-host", "web-07"]


@as_root
def test_entries_not_written_by_the_spools_owner_are_skipped(server: Path) -> None:
    spool = server / SPOOL_DIR
    good = capture_json("0f5c3b5e8c1e4a539d558c2ba3b7e1a2") | {"hostname": "squat"}
    squat = plant(spool, "20261201T000000-aaaaaaaa", good, PANIC)
    os.chown(squat, 1000, 1000)
    inner = plant(spool, "20261201T000001-bbbbbbbb", good, PANIC)
    os.chown(inner / "dmesg.txt", 1000, 1000)
    scan = scan_spool(spool)
    assert len(scan.skipped) == 2
    assert "000000-aaaaaaaa: is owned by uid 1000, not 0 (the spool's owner)" in scan.skipped[0]
    assert "000001-bbbbbbbb/dmesg.txt: is owned by uid 1000, not 0" in scan.skipped[1]
    assert sorted(e.host_label for e in scan.entries) == ["db-3", "web-07"]


def test_a_spool_others_can_write_is_refused_whole(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o777)
    with pytest.raises(UnsafePathError, match="group or world writable"):
        scan_spool(spool)
    link = tmp_path / "link"
    link.symlink_to(spool)
    with pytest.raises(UnsafePathError, match="symlink"):
        scan_spool(link)
    res = run_crashd(["list", "--spool", str(spool)])
    assert res.returncode == 1 and "group or world writable" in res.stderr


def test_ingest_writes_records_per_host_and_only_once(server: Path, tmp_path: Path) -> None:
    store = tmp_path / "fleet-records"
    before = {p: p.stat().st_mtime_ns for p in (server / SPOOL_DIR).rglob("*")}
    result = ingest_spool(scan_spool(server), store)
    assert result.problems == [] and len(result.created) == 2
    assert sorted(p.name for p in store.iterdir() if not p.name.startswith(".")) == ["db-3", "web-07"]
    (rec,) = [p for p in (store / "web-07").iterdir() if not p.name.startswith(".")]
    assert "-kdump-" in rec.name and oct(rec.stat().st_mode & 0o777) == "0o700"
    meta = json.loads((rec / "metadata.json").read_text())
    assert meta["panic"]["message"] == PANIC
    assert meta["capture"]["hostname"] == "web-07" and meta["capture"]["machine_id"] == HOSTS["web-07"][0]
    vm = meta["sources"]["vmcore"]
    assert vm["file"] is None and vm["location"].startswith(str(server / SPOOL_DIR)) and vm["location"].endswith("vmcore.flat")
    assert sorted(meta["files"]) == ["capture.json", "dmesg.txt"]
    # The spool is left as it was: the dump stays where the crashed machine's record points.
    assert {p: p.stat().st_mtime_ns for p in (server / SPOOL_DIR).rglob("*")} == before
    again = ingest_spool(scan_spool(server), store)
    assert again.created == [] and again.known == 2


def test_ingest_cli_needs_a_store_and_never_touches_var_lib_crash(server: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    res = run_crashd(["ingest", "--spool", str(server)], root)
    assert res.returncode == 2 and "--store" in res.stderr
    store = tmp_path / "records"
    plant(server / SPOOL_DIR, "20261201T000002-cccccccc", b"{garbled")
    res = run_crashd(["ingest", "--spool", str(server), "--store", str(store)], root)
    assert res.returncode == 1  # one entry refused; the others recorded all the same
    assert res.stdout.count("created ") == 2 and "capture.json: is not valid JSON" in res.stderr
    assert "2 new record(s), 0 already recorded, 1 skipped" in res.stderr
    assert not (root / "var" / "lib" / "crash").exists()


def test_old_captures_without_a_hostname_are_grouped_as_unknown(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    plant(spool, "20261127T173600-0f5c3b5e", capture_json("0f5c3b5e8c1e4a539d558c2ba3b7e1a2"),
          pstore_text(sysrq_messages()).decode())
    view = spool_view(scan_spool(spool))
    (crash,) = view.crashes
    assert crash.host is None and view.signatures()[0]["hosts"] == ["unknown host"]
