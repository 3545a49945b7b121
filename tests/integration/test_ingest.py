"""``crashd ingest`` as a subprocess on a fake root with the real reference data (issue 5 acceptance)."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from tests.fakeroot import build_root
from tests.integration.cli import run_crashd
from tests.unit.ingest.scenario import BOOT_CRASHED, capture_json

PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def machine(tmp_path: Path, ref_pstore: Path, ref_vmcores: Path, last_boot: str) -> Path:
    """The real ramoops record in /sys/fs/pstore and a capture of the reference vmcore in /var/crash."""
    build_root(
        tmp_path,
        {
            "/proc/sys/kernel/random/boot_id": "1111aaaa-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
            "/sys/fs/pstore/": "",
            "/var/lib/crash/.last-boot": last_boot + "\n",
        },
    )
    ramoops = tmp_path / "sys/fs/pstore/dmesg-ramoops-0"
    shutil.copyfile(ref_pstore / "panic-small-records" / "dmesg-ramoops-0", ramoops)
    # Written after crashd last ran (.last-boot) and far from the dump's CRASHTIME: only the boot id can link.
    os.utime(tmp_path / "var/lib/crash/.last-boot", (999_000_000, 999_000_000))
    os.utime(ramoops, (1_000_000_000, 1_000_000_000))
    spool = tmp_path / "var/crash" / f"20261127T173600-{BOOT_CRASHED[:8]}"
    spool.mkdir(parents=True)
    shutil.copyfile(ref_vmcores / "x86_64-6.1-sysrq.kdump-zlib", spool / "vmcore.kdump")
    info = capture_json(BOOT_CRASHED, "vmcore.kdump")
    info.update(collector="makedumpfile", dump_level=31, compression="zlib")
    (spool / "capture.json").write_text(json.dumps(info))
    return tmp_path


def show(root: Path, ident: str) -> dict[str, Any]:
    res = run_crashd(["show", ident, "--json"], root)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["version"] == 1
    meta = data["metadata"]
    assert isinstance(meta, dict)
    return meta


def records(root: Path) -> list[str]:
    res = run_crashd(["list", "--json"], root)
    assert res.returncode == 0, res.stderr
    return [r["name"] for r in json.loads(res.stdout)["records"]]


def test_same_boot_id_gives_one_record(tmp_path: Path, ref_pstore: Path, ref_vmcores: Path) -> None:
    root = machine(tmp_path, ref_pstore, ref_vmcores, last_boot=BOOT_CRASHED)
    res = run_crashd(["ingest"], root)
    assert res.returncode == 0, res.stderr
    (name,) = records(root)
    assert res.stdout.strip() == f"created {name}"
    meta = show(root, name[:20])
    assert meta["kind"] == "kdump+pstore" and meta["complete"] is True
    assert meta["kernel"]["release"] == "6.1.0-56-amd64"
    assert meta["kernel"]["machine"] == "x86_64" and meta["kernel"]["page_size"] == 4096
    assert meta["panic"]["message"] == PANIC and meta["panic"]["kind"] == "sysrq"
    assert (meta["panic"]["cpu"], meta["panic"]["pid"], meta["panic"]["comm"]) == (0, 1, "init")
    assert meta["crashed_boot_id"] == BOOT_CRASHED
    assert meta["sources"]["vmcore"]["format"] == "kdump"
    assert meta["sources"]["pstore"][0]["reason"] == "Panic"
    rec = root / "var/lib/crash" / name
    assert sorted(meta["files"]) == ["capture.json", "dmesg.txt", "pstore/dmesg-ramoops-0", "vmcore.kdump"]
    assert (rec / "pstore/dmesg-ramoops-0").read_bytes() == (
        ref_pstore / "panic-small-records/dmesg-ramoops-0"
    ).read_bytes()
    assert stat.S_IMODE((rec / "vmcore.kdump").stat().st_mode) == 0o600
    # vmcore-dmesg's text, derived from the dump because the capture saved none
    assert (rec / "dmesg.txt").read_text() == (ref_vmcores / "x86_64-6.1-sysrq.vmcore-dmesg.txt").read_text()
    assert list((root / "sys/fs/pstore").iterdir()) == []
    assert list((root / "var/crash").iterdir()) == []
    again = run_crashd(["ingest"], root)
    assert again.returncode == 0 and again.stdout == ""
    assert records(root) == [name]


def test_other_boot_id_gives_two_records(tmp_path: Path, ref_pstore: Path, ref_vmcores: Path) -> None:
    root = machine(tmp_path, ref_pstore, ref_vmcores, last_boot="2" * 32)
    res = run_crashd(["ingest"], root)
    assert res.returncode == 0, res.stderr
    names = records(root)
    assert len(names) == 2
    metas = {show(root, n)["kind"]: show(root, n) for n in names}
    assert set(metas) == {"kdump", "pstore"}
    for meta in metas.values():
        assert meta["kernel"]["release"] == "6.1.0-56-amd64"
        assert meta["panic"]["message"] == PANIC
    # the same crash site: the same signature, whichever source it was read from
    assert metas["kdump"]["signature"] == metas["pstore"]["signature"]


def test_symlink_in_spool_fails_with_its_name(tmp_path: Path) -> None:
    build_root(tmp_path, {"/sys/fs/pstore/": "", "/var/crash/20261127T173600-0f5c3b5e/": ""})
    link = tmp_path / "var/crash/20261127T173600-0f5c3b5e/vmcore"
    link.symlink_to("/etc/passwd")
    res = run_crashd(["ingest"], tmp_path)
    assert res.returncode == 1
    assert str(link) in res.stderr
    assert link.is_symlink()


def test_what_crashd_save_wrote_becomes_a_record(tmp_path: Path) -> None:
    """The capture kernel's `crashd save`, then the next boot's `crashd ingest`: the spool format both agree on."""
    from tests.unit.ingest.scenario import sysrq_messages
    from tests.vmcore_builder import write_elf_vmcore

    build_root(
        tmp_path,
        {
            "/proc/cmdline": f"console=ttyS0 systemd.unit=crashd-capture.target crashd.boot_id={BOOT_CRASHED}\n",
            "/proc/sys/kernel/random/boot_id": "99999999-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
            "/etc/crashd.conf": "[capture]\ncollector = copy\nfinal_action = shell\n",
            "/var/crash/": "",
            "/sys/fs/pstore/": "",
        },
    )
    write_elf_vmcore(tmp_path / "proc/vmcore", sysrq_messages())
    saved = run_crashd(["save"], tmp_path)
    assert saved.returncode == 0, saved.stderr
    (spool,) = (tmp_path / "var/crash/crashd").iterdir()  # crashd's private spool directory
    res = run_crashd(["ingest"], tmp_path)
    assert res.returncode == 0, res.stderr
    (name,) = records(tmp_path)
    meta = show(tmp_path, name)
    assert meta["kind"] == "kdump" and meta["complete"] is True
    assert meta["crashed_boot_id"] == BOOT_CRASHED
    assert meta["capture"]["collector"] == "copy"
    assert meta["panic"]["message"] == PANIC
    assert sorted(meta["files"]) == ["capture.json", "dmesg.txt", "vmcore"]
    assert not spool.exists()


def test_unwritable_store_is_one_clear_error_and_pstore_stays(tmp_path: Path) -> None:
    build_root(
        tmp_path,
        {
            "/sys/fs/pstore/dmesg-ramoops-0": "Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: x\n",
            "/var/lib/crash": "a file where the store should be\n",
        },
    )
    res = run_crashd(["ingest"], tmp_path)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and "crash" in res.stderr
    assert (tmp_path / "sys/fs/pstore/dmesg-ramoops-0").exists()


def test_ready_is_sent_after_the_pstore_read_and_before_the_records(
    tmp_path: Path, ref_pstore: Path, ref_vmcores: Path
) -> None:
    """crashd-ingest.service (Type=notify) holds up systemd-pstore and the boot only for the pstore
    read: READY=1 comes when every entry is in memory, before any record (or dump copy) is written."""
    from crashd.core.config import default_config
    from crashd.core.journal import Journal
    from crashd.core.paths import HostPaths
    from crashd.ingest.run import ingest

    root = machine(tmp_path / "root", ref_pstore, ref_vmcores, last_boot=BOOT_CRASHED)
    paths = HostPaths(root)
    seen: list[list[str]] = []

    def pstore_read() -> None:
        seen.append(sorted(p.name for p in paths.crash_store.iterdir() if not p.name.startswith(".")))
        # systemd-pstore may now move the entry away: the record must still get it (it is in memory)
        (root / "sys/fs/pstore/dmesg-ramoops-0").unlink()

    result = ingest(paths, default_config(), Journal(None), pstore_read=pstore_read)
    assert seen == [[]]  # called once, before any record existed
    assert len(result.created) == 1 and not result.problems
    record = paths.crash_store / result.created[0]
    assert (record / "pstore" / "dmesg-ramoops-0").read_bytes() == (
        ref_pstore / "panic-small-records" / "dmesg-ramoops-0").read_bytes()
    assert (record / "vmcore.kdump").is_file()


def test_crashd_ingest_notifies_systemd(tmp_path: Path, ref_pstore: Path, ref_vmcores: Path) -> None:
    from tests.unit.arm.helpers import NotifyReceiver

    root = machine(tmp_path / "root", ref_pstore, ref_vmcores, last_boot=BOOT_CRASHED)
    rx = NotifyReceiver(tmp_path)
    res = run_crashd(["ingest"], root, env={"NOTIFY_SOCKET": rx.name})
    assert res.returncode == 0, res.stderr
    messages = rx.drain()
    assert messages and messages[0].get("READY") == "1", messages
    assert messages[-1].get("STATUS") == "1 new crash record(s), 0 pruned", messages
    assert len(records(root)) == 1


def test_planted_user_capture_on_world_writable_spool_is_refused_and_named(tmp_path: Path) -> None:
    """Issue 10 acceptance: on apport's world-writable, sticky /var/crash a local user plants a
    capture; it is refused and named, and nothing from it reaches the store or the journal."""
    from tests.vmcore_builder import write_elf_vmcore

    forged = "Kernel panic - not syncing: FORGED-BY-A-USER"
    build_root(
        tmp_path,
        {
            "/proc/sys/kernel/random/boot_id": "99999999-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
            "/sys/fs/pstore/dmesg-ramoops-0": "Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: real\n",
            "/var/crash/": "",
        },
    )
    os.chmod(tmp_path / "var/crash", 0o1777)
    planted = tmp_path / "var/crash" / f"20261127T173600-{BOOT_CRASHED[:8]}"
    planted.mkdir()
    write_elf_vmcore(planted / "vmcore", [(1_000_000_000, forged)])
    (planted / "dmesg.txt").write_text(f"[    1.0] {forged}\n")
    info = capture_json(BOOT_CRASHED)
    info["kernel_release"] = "FORGED-BY-A-USER"
    (planted / "capture.json").write_text(json.dumps(info))
    for p in [planted, *planted.iterdir()]:
        os.lchown(p, 65534, 65534)
    res = run_crashd(["ingest"], tmp_path)
    assert res.returncode == 1
    assert str(planted) in res.stderr and "owned by uid 65534" in res.stderr
    assert "FORGED" not in res.stdout + res.stderr  # stderr carries the journal here (no journald)
    (name,) = records(tmp_path)
    assert "-pstore-" in name
    store = tmp_path / "var/lib/crash"
    assert all(b"FORGED" not in p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert (planted / "vmcore").exists()


def test_config_typo_falls_back_to_defaults_and_says_so(tmp_path: Path) -> None:
    """As save and the daemon do: a typo must not leave the crash unrecorded."""
    build_root(
        tmp_path,
        {
            "/etc/crashd.conf": "[retention]\nmax_records = lots\n",
            "/sys/fs/pstore/dmesg-ramoops-0": "Panic#1 Part1\n<0>[ 1.0] Kernel panic - not syncing: x\n",
        },
    )
    res = run_crashd(["ingest"], tmp_path)
    assert res.returncode == 1
    assert "max_records" in res.stderr and "default used" in res.stderr and "Traceback" not in res.stderr
    (name,) = records(tmp_path)
    assert "-pstore-" in name and res.stdout.startswith(f"created {name}")
