"""Every readiness check in every state, on fake roots shaped like real machines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crashd.arm.bootfiles import find_boot_files, kernel_kind
from crashd.arm.readiness import assess, cmdline_param, crash_kernel_range
from crashd.core.config import default_config, load_config
from crashd.core.settings import ArmConfig
from crashd.core.tools import ToolRunner
from tests.fakeroot import GUEST_IOMEM, KERNEL_CONFIG, RELEASE, armed_guest, build_root, dev_machine, gzip_config

EFI = "8be4df61-93ca-11d2-aa0d-00e098032b8c"


@pytest.fixture
def kexec_path(tmp_path: Path) -> str:
    """A PATH holding an executable named kexec (contents irrelevant for readiness)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "kexec"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return str(bindir)


def run_checks(tmp_path: Path, files: dict, path: str, config_text: str | None = None):
    root = tmp_path / "root"
    if config_text is not None:
        files = {**files, "/etc/crashd.conf": config_text}
    paths = build_root(root, files)
    cfg = load_config(paths) if config_text is not None else default_config()
    return assess(paths, ToolRunner(path=path), cfg)


def test_armed_guest_all_ok(tmp_path: Path, kexec_path: str) -> None:
    r = run_checks(tmp_path, armed_guest(), kexec_path)
    assert r.armed and r.ready
    states = {c.name: c.state for c in r.checks}
    assert states == {
        "kernel_support": "ok", "crashkernel": "ok", "kexec_tool": "ok", "kexec_allowed": "ok",
        "kexec_mode": "ok", "capture_files": "ok", "capture_memory": "ok", "armed": "ok", "pstore": "missing",
        "panic_policy": "ok", "capture_target": "ok", "capture_remote": "ok",
    }
    assert r.reserved_bytes == 256 << 20
    assert r.summary() == f"armed: {RELEASE}, 256 MiB reserved"
    assert r.check("crashkernel").evidence["iomem_range"] == "0b000000-1affffff"


SCENARIOS = [
    # (name, changes to the armed guest, check, state, reason)
    ("no config anywhere", {f"/boot/config-{RELEASE}": None}, "kernel_support", "unknown", "kernel_config_unavailable"),
    ("no kexec in kernel", {f"/boot/config-{RELEASE}": "CONFIG_CRASH_DUMP=y\nCONFIG_PROC_VMCORE=y\nCONFIG_RELOCATABLE=y\n"},
     "kernel_support", "missing", "kernel_lacks_options"),
    ("config.gz wins", {"/proc/config.gz": gzip_config("# CONFIG_KEXEC is not set\nCONFIG_KEXEC_FILE=y\n"
                                                       "CONFIG_CRASH_DUMP=y\nCONFIG_PROC_VMCORE=y\nCONFIG_RELOCATABLE=y\n"),
                        f"/boot/config-{RELEASE}": None}, "kernel_support", "ok", "supported"),
    ("no reservation", {"/sys/kernel/kexec_crash_size": "0\n", "/proc/cmdline": "root=/dev/vda\n",
                        "/proc/iomem": GUEST_IOMEM.replace("  0b000000-1affffff : Crash kernel\n", "")},
     "crashkernel", "missing", "no_reservation"),
    ("reservation failed", {"/sys/kernel/kexec_crash_size": "0\n",
                            "/proc/iomem": GUEST_IOMEM.replace("  0b000000-1affffff : Crash kernel\n", "")},
     "crashkernel", "missing", "reservation_failed"),
    ("kexec disabled", {"/proc/sys/kernel/kexec_load_disabled": "1\n"}, "kexec_allowed", "missing", "kexec_load_disabled"),
    ("load limit hit", {"/proc/sys/kernel/kexec_load_limit_panic": "0\n"}, "kexec_allowed", "missing",
     "kexec_load_limit_reached"),
    ("sysctl missing", {"/proc/sys/kernel/kexec_load_disabled": None}, "kexec_allowed", "unknown", "sysctl_unreadable"),
    ("lockdown", {"/sys/kernel/security/lockdown": "none [integrity] confidentiality\n"}, "kexec_mode", "ok",
     "kexec_file_load_required"),
    ("secure boot", {f"/sys/firmware/efi/efivars/SecureBoot-{EFI}": b"\x06\x00\x00\x00\x01",
                     f"/sys/firmware/efi/efivars/SetupMode-{EFI}": b"\x06\x00\x00\x00\x00"},
     "kexec_mode", "ok", "kexec_file_load_required"),
    ("secure boot in setup mode", {f"/sys/firmware/efi/efivars/SecureBoot-{EFI}": b"\x06\x00\x00\x00\x01",
                                   f"/sys/firmware/efi/efivars/SetupMode-{EFI}": b"\x06\x00\x00\x00\x01"},
     "kexec_mode", "ok", "kexec_file_load_preferred"),
    ("kernel without kexec_file_load", {f"/boot/config-{RELEASE}": KERNEL_CONFIG.replace("CONFIG_KEXEC_FILE=y\n", "")},
     "kexec_mode", "ok", "kexec_load_allowed"),
    ("no image", {f"/boot/vmlinuz-{RELEASE}": None}, "capture_files", "missing", "no_capture_kernel"),
    ("no initrd", {f"/boot/initrd.img-{RELEASE}": None}, "capture_files", "missing", "no_capture_initrd"),
    ("fedora names", {f"/boot/vmlinuz-{RELEASE}": None, f"/boot/initrd.img-{RELEASE}": None,
                      f"/usr/lib/modules/{RELEASE}/vmlinuz": b"k", f"/boot/initramfs-{RELEASE}.img": b"i"},
     "capture_files", "ok", "found"),
    ("not loaded", {"/sys/kernel/kexec_crash_loaded": "0\n"}, "armed", "missing", "not_loaded"),
    ("no kexec sysfs", {"/sys/kernel/kexec_crash_loaded": None}, "armed", "unknown", "no_kexec_sysfs"),
    ("ramoops", {"/sys/module/pstore/parameters/backend": "ramoops\n", "/sys/fs/pstore/dmesg-ramoops-0": "x"},
     "pstore", "ok", "active"),
    ("pstore unmounted", {"/sys/module/pstore/parameters/backend": "efi_pstore\n",
                          "/proc/self/mounts": "/dev/vda / ext4 rw 0 0\n"}, "pstore", "missing", "pstore_not_mounted"),
    ("policy not applied", {"/proc/sys/kernel/panic_on_oops": "0\n"}, "panic_policy", "missing", "policy_not_applied"),
    ("policy unreadable", {f"/proc/sys/kernel/{n}": None for n in ("panic", "panic_on_oops", "panic_on_warn",
                           "softlockup_panic", "hardlockup_panic", "hung_task_panic")},
     "panic_policy", "unknown", "sysctl_unreadable"),
]


@pytest.mark.parametrize(("name", "changes", "check", "state", "reason"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_check_states(tmp_path: Path, kexec_path: str, name: str, changes: dict, check: str, state: str,
                      reason: str) -> None:
    files = {**armed_guest(), **changes}
    r = run_checks(tmp_path, files, kexec_path)
    c = r.check(check)
    assert (c.state, c.reason) == (state, reason), c
    if state == "missing":
        assert c.hint, "a missing check must tell a person what to do"


def test_kexec_tool_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_checks(tmp_path, armed_guest(), str(empty))
    c = r.check("kexec_tool")
    assert (c.state, c.reason) == ("missing", "kexec_tools_missing")
    assert not r.ready and "kexec-tools" in c.hint


def test_auto_picks_kexec_file_load_whenever_the_kernel_has_it(tmp_path: Path, kexec_path: str) -> None:
    """kexec_load makes kexec-tools read /proc/kcore and /proc/kallsyms: in crashd.service's
    sandbox on Debian's 6.1 kernel that failed ("Can't find kernel text map area from kcore")."""
    assert run_checks(tmp_path / "a", armed_guest(), kexec_path).auto_file_load is True
    without = {**armed_guest(), f"/boot/config-{RELEASE}": KERNEL_CONFIG.replace("CONFIG_KEXEC_FILE=y\n", "")}
    r = run_checks(tmp_path / "b", without, kexec_path)
    assert r.auto_file_load is False and not r.file_load_required
    unknown = {**armed_guest(), f"/boot/config-{RELEASE}": None}
    assert run_checks(tmp_path / "c", unknown, kexec_path).auto_file_load is False


def test_file_load_required_but_disabled_blocks(tmp_path: Path, kexec_path: str) -> None:
    files = {**armed_guest(), "/sys/kernel/security/lockdown": "none [integrity] confidentiality\n"}
    r = run_checks(tmp_path, files, kexec_path, "[arm]\nkexec_file_load = no\n")
    assert r.check("kexec_mode").reason == "file_load_required_but_disabled"
    assert r.file_load_required and not r.ready


def test_dev_machine_reports_fix_without_failing(tmp_path: Path, kexec_path: str) -> None:
    r = run_checks(tmp_path, dev_machine(), kexec_path)
    assert not r.armed and not r.ready
    assert [c.name for c in r.blocking()] == ["crashkernel"]
    assert re.match(r"not armed: no crashkernel reservation — add crashkernel=\d+M", r.summary())


def test_unarmed_but_ready(tmp_path: Path, kexec_path: str) -> None:
    r = run_checks(tmp_path, {**armed_guest(), "/sys/kernel/kexec_crash_loaded": "0\n"}, kexec_path)
    assert r.ready and not r.armed
    assert "ready to arm" in r.summary()


def test_cmdline_and_iomem_parsing() -> None:
    assert cmdline_param('root=/dev/vda crashkernel=512M-2G:64M,2G-:256M quiet', "crashkernel") == "512M-2G:64M,2G-:256M"
    assert cmdline_param('a="x y" crashkernel=1 crashkernel=2', "crashkernel") == "2"
    assert cmdline_param('quiet', "crashkernel") is None
    assert crash_kernel_range(GUEST_IOMEM) == (0x0B000000, 0x1AFFFFFF)
    assert crash_kernel_range("00000000-00000fff : Reserved\n") is None


def test_kernel_kind_from_magic(tmp_path: Path) -> None:
    bz = bytearray(0x240)
    bz[0x202:0x206] = b"HdrS"
    arm64 = bytearray(0x40)
    arm64[0x38:0x3C] = b"ARM\x64"
    zimage = bytearray(0x40)
    zimage[0x24:0x28] = (0x016F2818).to_bytes(4, "little")
    for name, data, kind in (("bz", bz, "bzImage"), ("a64", arm64, "Image"), ("z", zimage, "zImage"),
                             ("elf", b"\x7fELF" + bytes(60), "vmlinux"), ("junk", b"hello", "unknown")):
        (tmp_path / name).write_bytes(bytes(data))
        assert kernel_kind(tmp_path / name) == kind


def test_boot_files_from_config(tmp_path: Path) -> None:
    paths = build_root(tmp_path, {**armed_guest(), "/opt/k/zImage": b"z", "/sys/firmware/fdt": b"\xd0\x0d\xfe\xed"})
    arm = ArmConfig(**{**default_config().arm.__dict__, "kernel": "/opt/k/zImage", "initrd": "none", "dtb": "auto"})
    bf = find_boot_files(paths, arm)
    assert bf.kernel == tmp_path / "opt/k/zImage" and bf.initrd is None and bf.dtb == tmp_path / "sys/firmware/fdt"



# --- the capture target (issue 10 E): armed is not enough when the dump cannot be saved ---


def target_readiness(tmp_path: Path, kexec_path: str, config_text: str, extra: dict | None = None):
    files = {**armed_guest(), "/var/crash/": "", **(extra or {})}
    return run_checks(tmp_path, files, kexec_path, config_text)


def test_default_directory_target_is_ok(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "")
    c = r.check("capture_target")
    assert c.state == "ok", c
    assert c.evidence["free_bytes"] is not None and c.evidence["estimated_dump_bytes"] > 0
    assert r.summary().startswith("armed: ")


def test_missing_directory_under_an_existing_parent_is_ok(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = /var/crash/new\n")
    assert r.check("capture_target").state == "ok"
    assert r.check("capture_target").reason == "directory_creatable"


def test_directory_without_a_parent_cannot_save(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = /srv/nowhere/crash\n")
    c = r.check("capture_target")
    assert (c.state, c.reason) == ("missing", "target_directory_missing")
    assert r.armed and r.ready  # it still arms: a crash then keeps at least what pstore has
    assert r.summary().startswith("armed, but the dump cannot be saved: /srv/nowhere/crash")


def test_target_that_is_a_file_cannot_save(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = /srv/crash\n", {"/srv/crash": "x"})
    assert r.check("capture_target").reason == "target_not_directory"


def test_unknown_label_cannot_save(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = LABEL=nonexistent\n",
                         {"/dev/disk/by-label/": "", "/dev/disk/by-uuid/": ""})
    c = r.check("capture_target")
    assert (c.state, c.reason) == ("missing", "target_device_missing")
    assert "LABEL=nonexistent" in r.summary() and r.summary().startswith("armed, but the dump cannot be saved")


def test_label_that_resolves_is_ok(tmp_path: Path, kexec_path: str) -> None:
    root = tmp_path / "root"
    (root / "dev/disk/by-label").mkdir(parents=True)
    (root / "dev/vdb1").write_text("")
    (root / "dev/disk/by-label/crash\\x20dump").symlink_to("../../vdb1")
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = LABEL=crash dump\n")
    c = r.check("capture_target")
    assert (c.state, c.reason) == ("ok", "device_found"), c
    assert c.evidence["device"] == "/dev/vdb1"


def test_label_without_udev_links_or_blkid_is_unknown(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = UUID=1234-ABCD\n")
    assert r.check("capture_target").state == "unknown"
    assert r.summary().startswith("armed: ")


def test_dev_path_target_must_exist(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\ntarget = /dev/sdz9\n")
    assert r.check("capture_target").reason == "target_device_missing"


def test_too_little_free_space_cannot_save(tmp_path: Path, kexec_path: str) -> None:
    r = target_readiness(tmp_path, kexec_path, "[capture]\nmin_free = 1000000T\n")
    c = r.check("capture_target")
    assert (c.state, c.reason) == ("missing", "target_too_small"), c
    assert "min_free" in c.title


def test_dump_estimate_is_one_stated_function(tmp_path: Path) -> None:
    from crashd.arm.readiness import estimate_dump_bytes

    paths = build_root(tmp_path, armed_guest())
    cfg = default_config()
    level31, how = estimate_dump_bytes(paths, cfg)
    assert "System RAM" in how
    ram = 0x3ffdffff - 0x100000 + 1 + 0x9fbff - 0x1000 + 1
    assert 0 < level31 < ram // 10
    full, _ = estimate_dump_bytes(paths, load_config(build_root(tmp_path, {
        "/etc/crashd.conf": "[capture]\ndump_level = 0\ncompression = none\n"})))
    assert full == ram


def _target_with_mountinfo(tmp_path, mountinfo: str):  # type: ignore[no-untyped-def]
    from crashd.arm.readiness import check_capture_target
    from crashd.core.config import default_config
    from crashd.core.paths import HostPaths
    from crashd.core.tools import ToolRunner

    root = tmp_path / "root"
    (root / "var" / "crash").mkdir(parents=True)
    (root / "proc" / "self").mkdir(parents=True)
    (root / "proc" / "self" / "mountinfo").write_text(mountinfo)
    paths = HostPaths(root)
    return check_capture_target(paths, ToolRunner(), default_config())


SANDBOXED = "25 1 254:1 / / ro,relatime shared:1 - ext4 /dev/vda rw,errors=remount-ro\n"
READ_ONLY_FS = "25 1 254:1 / / ro,relatime shared:1 - ext4 /dev/vda ro,errors=remount-ro\n"


def test_capture_target_on_a_read_only_file_system_is_not_writable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    check = _target_with_mountinfo(tmp_path, READ_ONLY_FS)
    assert check.reason == "target_not_writable"
    assert "not writable" in check.title
    # the deepest mount holding the target decides: a read-only /var under a writable /
    (tmp_path / "root").rename(tmp_path / "old")
    check = _target_with_mountinfo(tmp_path, SANDBOXED + "26 25 0:5 / /var rw - tmpfs tmpfs ro\n")
    assert check.reason == "target_not_writable"
