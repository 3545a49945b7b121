"""arm64 kexec_load on a kernel whose /proc/kallsyms has no ``_text`` (Debian 12's): the derived
line, the plan that asks for it, the load that runs kexec through the shim, and the shim itself
(with fake system calls; one test with the real ones when run as root)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from crashd.arm import kallsyms_shim
from crashd.arm.bootfiles import find_boot_files
from crashd.arm.kallsyms_shim import text_address, with_text
from crashd.arm.kexec import ArmError, Kexec, LoadPlan, kallsyms_copy, load_argv, make_plan, plan_for
from crashd.core.config import default_config
from crashd.core.paths import HostPaths
from tests.fakeroot import RELEASE, unarmed_guest
from tests.unit.arm.helpers import fake_tools, kexec_calls, make_root

# The head of a Debian 12 arm64 (6.1.0-57-arm64) /proc/kallsyms under KASLR: no _text.
DEBIAN_ARM64 = (
    "ffffc8c7a8810000 T _stext\n"
    "ffffc8c7a8810000 T __exception_text_start\n"
    "ffffc8c7a8810008 T do_undefinstr\n"
    "ffffc8c7a9ba0000 T __init_begin\n"
    "ffffc8c7a8811000 t el1t_64_sync\n"
)
WITH_TEXT = "ffff800008000000 T _text\nffff800008010000 T _stext\n"


def test_text_is_stext_minus_segment_align() -> None:
    assert text_address(DEBIAN_ARM64) == 0xFFFFC8C7A8800000
    lines = (with_text(DEBIAN_ARM64) or "").splitlines()
    assert lines[0] == "ffffc8c7a8800000 T _text"
    assert lines[1:] == DEBIAN_ARM64.splitlines()  # everything else verbatim


@pytest.mark.parametrize(
    "kallsyms",
    [
        WITH_TEXT,  # nothing to fix
        "0000000000000000 T _stext\n",  # kptr_restrict: addresses hidden from this reader
        "ffffc8c7a8811000 T _stext\n",  # not on a 64 KiB boundary: not the layout the rule holds for
        "ffffc8c7a8810008 T do_undefinstr\n",  # no _stext at all
        "ffffc8c7a8810000 D _stext\n",  # a data symbol of that name is not the one
        "",
    ],
)
def test_no_derived_text_when_it_is_not_known_to_be_right(kallsyms: str) -> None:
    assert text_address(kallsyms) is None
    assert with_text(kallsyms) is None


# --- the plan ------------------------------------------------------------------

def _arm64_root(tmp_path: Path, kallsyms: str) -> HostPaths:
    files = unarmed_guest()
    files["/proc/kallsyms"] = kallsyms
    return make_root(tmp_path / "root", files)


def test_plan_asks_for_the_shim_only_for_arm64_kexec_load_without_text(tmp_path: Path) -> None:
    paths = _arm64_root(tmp_path, DEBIAN_ARM64)
    cfg = default_config()
    boot = find_boot_files(paths, cfg.arm)
    assert plan_for(paths, cfg, boot, auto_file_load=False, arch="aarch64").kallsyms_text is True
    # kexec_file_load does not read kallsyms; other architectures do not need _text
    assert plan_for(paths, cfg, boot, auto_file_load=True, arch="aarch64").kallsyms_text is False
    assert plan_for(paths, cfg, boot, auto_file_load=False, arch="x86_64").kallsyms_text is False
    assert plan_for(paths, cfg, boot, auto_file_load=False, arch="armv7l").kallsyms_text is False


def test_plan_without_the_shim_when_kallsyms_lists_text_or_cannot_be_fixed(tmp_path: Path) -> None:
    cfg = default_config()
    for i, kallsyms in enumerate((WITH_TEXT, "0000000000000000 T _stext\n")):
        paths = _arm64_root(tmp_path / str(i), kallsyms)
        boot = find_boot_files(paths, cfg.arm)
        assert plan_for(paths, cfg, boot, auto_file_load=False, arch="aarch64").kallsyms_text is False


# --- the load through the shim ------------------------------------------------------

FAKE_SHIM = """#!/usr/bin/python3
import json, os, stat, sys
copy, target, sep, *program = sys.argv[1:]
st = os.lstat(copy)
with open(os.environ["SHIM_LOG"], "a") as log:
    log.write(json.dumps({"copy": copy, "target": target, "sep": sep, "mode": stat.S_IMODE(st.st_mode),
                          "head": open(copy).readline(), "program": program}) + "\\n")
os.execvp(program[0], program)
"""


def _shim(tmp_path: Path) -> Path:
    script = tmp_path / "fake-shim"
    script.write_text(FAKE_SHIM)
    script.chmod(0o755)
    return script


def _arm64_plan(paths: HostPaths, text: bool) -> LoadPlan:
    return make_plan(kernel=paths.boot(f"vmlinuz-{RELEASE}"), initrd=paths.boot(f"initrd.img-{RELEASE}"),
                     dtb=None, kernel_kind="Image", cmdline="a b", file_load=False, arch="aarch64",
                     kallsyms_lacks_text=text)


def test_load_runs_kexec_through_the_shim_with_a_private_copy(tmp_path: Path) -> None:
    paths = _arm64_root(tmp_path, DEBIAN_ARM64)
    log, shim_log = tmp_path / "kexec.log", tmp_path / "shim.log"
    tools = fake_tools(paths.root, log, SHIM_LOG=str(shim_log))
    plan = _arm64_plan(paths, True)
    Kexec(paths, tools, shim=[str(_shim(tmp_path))]).load(plan)
    (seen,) = [json.loads(line) for line in shim_log.read_text().splitlines()]
    assert seen["copy"] == str(kallsyms_copy(paths)) and seen["target"] == str(paths.proc("kallsyms"))
    assert seen["sep"] == "--" and seen["program"] == load_argv(plan)
    assert seen["mode"] == 0o600
    assert seen["head"] == "ffffc8c7a8800000 T _text\n"
    assert kexec_calls(log) == [load_argv(plan)[1:]]  # kexec itself got the plain argv
    assert not kallsyms_copy(paths).exists()  # removed once kexec is done
    assert paths.proc("kallsyms").read_text() == DEBIAN_ARM64  # the kernel's file is untouched


def test_load_without_text_fix_runs_kexec_directly(tmp_path: Path) -> None:
    paths = _arm64_root(tmp_path, WITH_TEXT)
    log, shim_log = tmp_path / "kexec.log", tmp_path / "shim.log"
    Kexec(paths, fake_tools(paths.root, log, SHIM_LOG=str(shim_log)), shim=[str(_shim(tmp_path))]).load(
        _arm64_plan(paths, False))
    assert not shim_log.exists()
    assert len(kexec_calls(log)) == 1


def test_failed_load_through_the_shim_removes_the_copy_and_reports(tmp_path: Path) -> None:
    paths = _arm64_root(tmp_path, DEBIAN_ARM64)
    tools = fake_tools(paths.root, tmp_path / "kexec.log", SHIM_LOG=str(tmp_path / "shim.log"),
                       FAKE_KEXEC_FAIL="Can't get the symbol of _text to calculate page_offset.")
    with pytest.raises(ArmError, match="_text added to kallsyms.*page_offset"):
        Kexec(paths, tools, shim=[str(_shim(tmp_path))]).load(_arm64_plan(paths, True))
    assert not kallsyms_copy(paths).exists()


def test_kallsyms_changed_since_the_plan_is_an_arm_error(tmp_path: Path) -> None:
    """The plan said "derive _text", but kallsyms now cannot be fixed (kptr_restrict turned on)."""
    paths = _arm64_root(tmp_path, DEBIAN_ARM64)
    plan = _arm64_plan(paths, True)
    paths.proc("kallsyms").write_text("0000000000000000 T _stext\n")
    log = tmp_path / "kexec.log"
    with pytest.raises(ArmError, match="no _text and none can be derived"):
        Kexec(paths, fake_tools(paths.root, log), shim=[str(_shim(tmp_path))]).load(plan)
    assert kexec_calls(log) == []


def test_a_symlink_where_the_copy_goes_is_replaced_not_followed(tmp_path: Path) -> None:
    paths = _arm64_root(tmp_path, DEBIAN_ARM64)
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    kallsyms_copy(paths).parent.mkdir(parents=True, exist_ok=True)
    kallsyms_copy(paths).symlink_to(victim)
    tools = fake_tools(paths.root, tmp_path / "kexec.log", SHIM_LOG=str(tmp_path / "shim.log"))
    Kexec(paths, tools, shim=[str(_shim(tmp_path))]).load(_arm64_plan(paths, True))
    assert victim.read_text() == "keep\n"


# --- the shim ------------------------------------------------------------------------

class FakeMounts:
    def __init__(self, fail: str | None = None):
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def _call(self, *call: str) -> None:
        self.calls.append(call)
        if call[0] == self.fail:
            raise OSError(1, f"{call[0]}: Operation not permitted")

    def unshare_mount_namespace(self) -> None:
        self._call("unshare")

    def make_private(self, path: str) -> None:
        self._call("private", path)

    def bind(self, source: str, target: str) -> None:
        self._call("bind", source, target)


def _copy(tmp_path: Path) -> Path:
    copy = tmp_path / "kallsyms-text"
    copy.write_text(WITH_TEXT)
    copy.chmod(0o600)
    return copy


def test_shim_isolates_binds_then_execs(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    mounts, execs = FakeMounts(), []
    rc = kallsyms_shim.main([str(copy), "/proc/kallsyms", "--", "kexec", "-p", "Image"], mounts,
                            lambda prog, argv: execs.append((prog, argv)))
    assert rc == 0
    # the namespace is private before anything is mounted in it: the bind cannot propagate out
    assert mounts.calls == [("unshare",), ("private", "/"), ("bind", str(copy), "/proc/kallsyms")]
    assert execs == [("kexec", ["kexec", "-p", "Image"])]


@pytest.mark.parametrize("fail", ["unshare", "private", "bind"])
def test_shim_never_runs_the_program_when_isolation_fails(tmp_path: Path, fail: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    execs: list[object] = []
    rc = kallsyms_shim.main([str(_copy(tmp_path)), "/proc/kallsyms", "--", "kexec"], FakeMounts(fail),
                            lambda prog, argv: execs.append(prog))
    assert rc == kallsyms_shim.EXIT_SETUP and execs == []
    assert "Operation not permitted" in capsys.readouterr().err


def test_shim_refuses_a_copy_that_is_a_symlink_or_writable_by_others(tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(copy)
    loose = tmp_path / "loose"
    loose.write_text(WITH_TEXT)
    loose.chmod(0o666)
    for bad in (link, loose, tmp_path / "absent", tmp_path):
        mounts = FakeMounts()
        assert kallsyms_shim.main([str(bad), "/proc/kallsyms", "--", "kexec"], mounts, lambda p, a: None) == 126
        assert mounts.calls == []


@pytest.mark.parametrize("argv", [[], ["copy"], ["copy", "target", "kexec"], ["copy", "target", "--"]])
def test_shim_usage(argv: list[str]) -> None:
    assert kallsyms_shim.main(argv, FakeMounts(), lambda p, a: None) == kallsyms_shim.EXIT_USAGE


def test_shim_exec_failure_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def missing(prog: str, argv: list[str]) -> None:
        raise FileNotFoundError(2, "No such file or directory")

    rc = kallsyms_shim.main([str(_copy(tmp_path)), "/proc/kallsyms", "--", "kexec"], FakeMounts(), missing)
    assert rc == 126 and "cannot run kexec" in capsys.readouterr().err


def _can_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("cat") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True) if shutil.which("unshare") else None
    return probe is not None and probe.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and permission to create a mount namespace")
def test_real_shim_shows_the_copy_to_the_program_only(tmp_path: Path) -> None:
    """The real system calls: the program reads the copy at the target path; afterwards, and
    outside, the target is the original file and no mount is left behind."""
    target = tmp_path / "kallsyms"
    target.write_text("original\n")
    copy = _copy(tmp_path)
    res = subprocess.run([sys.executable, "-m", "crashd.arm.kallsyms_shim", str(copy), str(target), "--",
                          "cat", str(target)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout == WITH_TEXT
    assert target.read_text() == "original\n"
    assert str(target) not in Path("/proc/self/mountinfo").read_text()
    assert stat.S_ISREG(target.lstat().st_mode)


# --- readiness ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kallsyms", "state", "reason"),
    [
        (DEBIAN_ARM64, "ok", "kallsyms_text_derived"),
        (WITH_TEXT, "ok", "found"),
        ("0000000000000000 T _stext\n", "missing", "kallsyms_no_text"),  # the refusal stays
    ],
)
def test_readiness_on_arm64_arms_when_text_can_be_derived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          kallsyms: str, state: str, reason: str) -> None:
    from crashd.arm import readiness

    monkeypatch.setattr(readiness, "machine_arch", lambda: "aarch64")  # the module's view of uname -m
    paths = _arm64_root(tmp_path, kallsyms)
    cfg = default_config()
    check = readiness.check_capture_files(paths, find_boot_files(paths, cfg.arm), cfg)
    assert (check.state, check.reason) == (state, reason)
