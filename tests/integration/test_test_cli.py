"""``crashd test`` and ``crashd estimate`` as a user runs them (subprocess, fake root; nothing crashes:
/proc/sysrq-trigger is a plain file of the fake root)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from crashd.arm.armstate import hold_path
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.ingest.selftest_result import resolve
from tests.fakeroot import RELEASE, armed_guest, build_root, unarmed_guest
from tests.integration.cli import run_crashd

MIB = 1 << 20


def bzimage(init_size: int) -> bytes:
    head = bytearray(0x400)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x020F)
    struct.pack_into("<I", head, 0x260, init_size)
    return bytes(head)


@pytest.fixture
def bindir(tmp_path: Path) -> str:
    """A kexec that records its argv (and loads nothing: the fake root says loaded already)."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "kexec").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/kexec.argv\nexit 0\n')
    (d / "kexec").chmod(0o755)
    return f"{d}:/usr/bin:/bin"


def guest(tmp_path: Path, **over: str | bytes | None) -> Path:
    root = tmp_path / "root"
    build_root(root, {**armed_guest(), f"/boot/vmlinuz-{RELEASE}": bzimage(40 * MIB), "/proc/sysrq-trigger": "",
                      **over})
    return root


def test_dry_run_on_an_armed_guest_exits_0_and_shows_the_kexec_command(tmp_path: Path, bindir: str) -> None:
    root = guest(tmp_path)
    proc = run_crashd(["test", "--dry-run"], root, bindir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("a crash now is expected to be captured")
    assert f"kexec -p -s --initrd=/boot/initrd.img-{RELEASE}" in proc.stdout.replace(str(root), "")
    assert "crashd.boot_id=0f5c3b5e8c1e4a539d558c2ba3b7e1a2" in proc.stdout
    assert "reservation: needs ~" in proc.stdout and "target /var/crash: usable" in proc.stdout
    assert (root / "proc/sysrq-trigger").read_text() == ""
    data = json.loads(run_crashd(["test", "--dry-run", "--json"], root, bindir).stdout)
    assert data["expected_to_succeed"] is True and data["reservation"]["fits"] is True


def test_too_small_a_reservation_is_armed_but_and_exit_4_everywhere(tmp_path: Path, bindir: str) -> None:
    root = guest(tmp_path, **{"/sys/kernel/kexec_crash_size": str(64 * MIB) + "\n"})
    status = run_crashd(["status"], root, bindir)
    assert status.returncode == 4, status.stdout + status.stderr
    first = status.stdout.splitlines()[0]
    assert first.startswith("armed, but the capture kernel will likely run out of memory: needs ~")
    assert ", 64 MiB reserved — set crashkernel=" in first
    data = json.loads(run_crashd(["status", "--json"], root, bindir).stdout)
    assert data["armed"] is True and "capture_memory" in data["degraded"]
    dry = run_crashd(["test", "--dry-run"], root, bindir)
    assert dry.returncode == 4 and "would NOT be captured" in dry.stdout
    est = run_crashd(["estimate", "--json", "--no-mem-usage"], root, bindir)
    assert est.returncode == 4
    assert json.loads(est.stdout)["reservation"]["fits"] is False


def test_dry_run_not_armed_exits_3(tmp_path: Path, bindir: str) -> None:
    root = tmp_path / "root"
    build_root(root, {**unarmed_guest(), f"/boot/vmlinuz-{RELEASE}": bzimage(40 * MIB)})
    assert run_crashd(["test", "--dry-run"], root, bindir).returncode == 3


def test_crash_without_a_terminal_or_yes_refuses_and_records_nothing(tmp_path: Path, bindir: str) -> None:
    root = guest(tmp_path)
    proc = run_crashd(["test", "--crash"], root, bindir)
    assert proc.returncode == 1 and "refusing to crash without confirmation" in proc.stderr
    assert (root / "proc/sysrq-trigger").read_text() == ""
    assert not (root / "var/lib/crashd/selftest.json").exists()
    assert not (tmp_path / "kexec.argv").exists()


def test_crash_not_armed_refuses(tmp_path: Path, bindir: str) -> None:
    root = tmp_path / "root"
    build_root(root, {**unarmed_guest(), "/proc/sysrq-trigger": ""})
    proc = run_crashd(["test", "--crash", "--yes"], root, bindir)
    assert proc.returncode == 3 and (root / "proc/sysrq-trigger").read_text() == ""


def test_crash_yes_loads_the_test_id_syncs_and_triggers_then_ingest_and_status_judge_it(
        tmp_path: Path, bindir: str) -> None:
    root = guest(tmp_path)
    proc = run_crashd(["test", "--crash", "--yes"], root, bindir)
    assert proc.returncode == 0, proc.stderr
    assert (root / "proc/sysrq-trigger").read_text() == "c"
    state = json.loads((root / "var/lib/crashd/selftest.json").read_text())
    tid = state["pending"]["id"]
    argv = (tmp_path / "kexec.argv").read_text().splitlines()
    append = next(a for a in argv if a.startswith("--append="))
    assert append.endswith(f"crashd.boot_id=0f5c3b5e8c1e4a539d558c2ba3b7e1a2 crashd.test_id={tid}")
    assert not hold_path(HostPaths(root)).exists()  # the daemon may re-arm as usual
    pending = run_crashd(["status", "--json"], root, bindir)
    assert json.loads(pending.stdout)["selftest"]["state"] == "pending"

    # the reboot after the capture: a new boot id and the record ingest made of the capture
    (root / "proc/sys/kernel/random/boot_id").write_text("99999999-8c1e-4a53-9d55-8c2ba3b7e1a2\n")
    rec = root / "var/lib/crash/20261201T203000-kdump-0f5c3b5e"
    rec.mkdir(parents=True)
    (rec / "metadata.json").write_text(json.dumps({"complete": True, "crashed_boot_id": "0f5c3b5e8c1e4a539d558c2ba3b7e1a2",
                                                   "capture": {"test_id": tid, "complete": True}}))
    assert resolve(HostPaths(root), Journal(None)) is not None
    status = run_crashd(["status"], root, bindir)
    assert "self-test: test passed " in status.stdout and "20261201T203000-kdump-0f5c3b5e" in status.stdout

    initrd = root / f"boot/initrd.img-{RELEASE}"
    initrd.write_bytes(initrd.read_bytes() + b"rebuilt by update-initramfs")
    data = json.loads(run_crashd(["status", "--json"], root, bindir).stdout)
    assert data["selftest"]["state"] == "untested" and data["selftest"]["changed"] == ["initrd"]
    assert "untested since " in run_crashd(["status"], root, bindir).stdout


def test_a_remote_target_that_cannot_work_still_captures_locally_and_says_so(tmp_path: Path, bindir: str) -> None:
    """capture_remote is degraded, not fatal: the dump would go to the local target, so the
    verdict must not say the crash would not be captured."""
    fake = Path(bindir.split(":")[0])
    (fake / "ip").write_text("#!/bin/sh\n"
                             "case \"$*\" in\n"
                             "  *'route get'*) echo '192.0.2.1 dev eth0 src 192.0.2.2 uid 0' ;;\n"
                             "  *addr*) echo '2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0' ;;\n"
                             "esac\n")
    (fake / "ip").chmod(0o755)
    for tool in ("ssh", "makedumpfile"):
        (fake / tool).write_text("#!/bin/sh\nexit 0\n")
        (fake / tool).chmod(0o755)
    root = guest(tmp_path, **{"/etc/crashd.conf": "[capture]\ntarget = ssh://root@192.0.2.1/srv/crash\n"})
    dry = run_crashd(["test", "--dry-run"], root, bindir)
    assert dry.returncode == 4, dry.stdout + dry.stderr
    first = dry.stdout.splitlines()[0]
    assert first.startswith("a crash now would be captured, but not on ssh://root@192.0.2.1/srv/crash: "), first
    assert "ssh key" in first and first.endswith("the dump would be saved in /var/crash"), first
    data = json.loads(run_crashd(["test", "--dry-run", "--json"], root, bindir).stdout)
    assert data["expected_to_succeed"] is False and data["degraded"][0].startswith("capture_remote: ")
