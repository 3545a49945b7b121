"""The capture command line and the kexec argv, per architecture; running the fake kexec."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crashd.arm.bootfiles import find_boot_files
from crashd.arm.kexec import (
    ArmError,
    Kexec,
    LoadPlan,
    capture_cmdline,
    crash_loaded,
    load_argv,
    make_plan,
    plan_for,
    read_boot_id,
    unload_argv,
)
from crashd.core.cmdline import split_cmdline
from crashd.core.config import default_config, read_config
from tests.fakeroot import RELEASE, unarmed_guest
from tests.unit.arm.helpers import fake_tools, kexec_calls, make_root

BOOT_ID = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"


def test_split_keeps_quoted_spaces_and_quotes() -> None:
    line = 'root=/dev/vda dyndbg="file foo.c +p" "acpi_osi=Windows 2009" quiet\n'
    assert split_cmdline(line) == ['root=/dev/vda', 'dyndbg="file foo.c +p"', '"acpi_osi=Windows 2009"', "quiet"]


def test_capture_cmdline_removes_appends_and_ends_with_ours() -> None:
    cfg = default_config().arm
    running = f"BOOT_IMAGE=/boot/vmlinuz-{RELEASE} root=/dev/vda rw console=ttyS0 panic=5 crashkernel=256M quiet"
    out = split_cmdline(capture_cmdline(running, cfg.cmdline_remove, cfg.cmdline_append, BOOT_ID))
    assert out[:3] == ["root=/dev/vda", "rw", "console=ttyS0"]
    assert not any(t.startswith(("BOOT_IMAGE", "crashkernel", "quiet")) for t in out)
    assert [t for t in out if t.startswith("panic=")] == ["panic=10"]  # appended replaces inherited
    assert out[-2:] == ["systemd.unit=crashd-capture.target", f"crashd.boot_id={BOOT_ID}"]
    for t in cfg.cmdline_append:
        assert t in out


def test_capture_cmdline_drops_stale_unit_and_boot_id_and_keeps_init_args_last() -> None:
    running = 'systemd.unit=rescue.target crashd.boot_id=ffff x="a b" -- single'
    out = split_cmdline(capture_cmdline(running, ["x"], ["nr_cpus=1"], BOOT_ID))
    assert out == ["nr_cpus=1", "systemd.unit=crashd-capture.target", f"crashd.boot_id={BOOT_ID}", "--", "single"]


def test_remove_matches_bare_key_and_key_value_not_prefix() -> None:
    out = capture_cmdline("cma=64M cmaverbose quiet", ["cma", "quiet"], [], BOOT_ID)
    assert split_cmdline(out)[0] == "cmaverbose"


def test_boot_id_without_dashes(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    assert read_boot_id(paths) == BOOT_ID
    paths.boot_id.write_text("garbage\n")
    with pytest.raises(ArmError, match="not a boot id"):
        read_boot_id(paths)


def test_x86_64_argv() -> None:
    plan = make_plan(kernel=Path("/boot/vmlinuz-R"), initrd=Path("/boot/initrd.img-R"), dtb=None,
                     kernel_kind="bzImage", cmdline="root=/dev/vda nr_cpus=1", file_load=False, arch="x86_64")
    assert load_argv(plan) == ["kexec", "-p", "--initrd=/boot/initrd.img-R",
                               "--append=root=/dev/vda nr_cpus=1", "/boot/vmlinuz-R"]


def test_file_load_adds_s_for_load_and_unload() -> None:
    plan = make_plan(kernel=Path("/k"), initrd=None, dtb=None, kernel_kind="bzImage", cmdline="x",
                     file_load=True, arch="x86_64")
    assert load_argv(plan)[:3] == ["kexec", "-p", "-s"]
    assert "--initrd" not in " ".join(load_argv(plan))
    assert unload_argv(True) == ["kexec", "-p", "-s", "-u"]
    assert unload_argv(False) == ["kexec", "-p", "-u"]


def test_arm32_zimage_gets_dtb_and_image_size() -> None:
    plan = make_plan(kernel=Path("/boot/zImage-R"), initrd=Path("/boot/initrd.img-R"), dtb=Path("/sys/firmware/fdt"),
                     kernel_kind="zImage", cmdline="console=ttyAMA0", file_load=False, arch="armv7l")
    argv = load_argv(plan)
    assert "--dtb=/sys/firmware/fdt" in argv
    assert "--image-size=0x3000000" in argv
    assert argv[-1] == "/boot/zImage-R"


def test_arm32_configured_image_size_and_arm64_has_no_dtb() -> None:
    plan = make_plan(kernel=Path("/z"), initrd=None, dtb=Path("/d"), kernel_kind="zImage", cmdline="",
                     file_load=False, arch="armv7l", image_size=64 << 20)
    assert "--image-size=0x4000000" in load_argv(plan)
    plan64 = make_plan(kernel=Path("/i"), initrd=None, dtb=Path("/sys/firmware/fdt"), kernel_kind="Image",
                       cmdline="", file_load=False, arch="aarch64")
    assert not any(a.startswith(("--dtb", "--image-size")) for a in load_argv(plan64))


def test_plan_for_fake_root_and_file_load_modes(tmp_path: Path) -> None:
    paths = make_root(tmp_path, unarmed_guest())
    cfg = default_config()
    boot = find_boot_files(paths, cfg.arm)
    plan = plan_for(paths, cfg, boot, auto_file_load=False, arch="x86_64")
    assert plan.kernel == paths.boot(f"vmlinuz-{RELEASE}") and plan.initrd == paths.boot(f"initrd.img-{RELEASE}")
    assert plan.file_load is False
    assert plan_for(paths, cfg, boot, auto_file_load=True, arch="x86_64").file_load is True
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text("[arm]\nkexec_file_load = yes\n")
    cfg_yes = read_config(paths).config
    assert plan_for(paths, cfg_yes, boot, auto_file_load=False, arch="x86_64").file_load is True


def _plan(paths) -> LoadPlan:
    return make_plan(kernel=paths.boot(f"vmlinuz-{RELEASE}"), initrd=paths.boot(f"initrd.img-{RELEASE}"),
                     dtb=None, kernel_kind="bzImage", cmdline="a b", file_load=False, arch="x86_64")


def test_load_and_unload_flip_the_flag(tmp_path: Path) -> None:
    paths = make_root(tmp_path / "root", unarmed_guest())
    log = tmp_path / "kexec.log"
    kexec = Kexec(paths, fake_tools(paths.root, log))
    kexec.load(_plan(paths))
    assert crash_loaded(paths) is True
    kexec.unload(False)
    assert crash_loaded(paths) is False
    assert kexec_calls(log)[-1] == ["-p", "-u"]
    assert "--append=a b" in kexec_calls(log)[0]  # one argv element, spaces and all


def test_load_failure_carries_stderr(tmp_path: Path) -> None:
    paths = make_root(tmp_path / "root", unarmed_guest())
    kexec = Kexec(paths, fake_tools(paths.root, tmp_path / "log",
                                    FAKE_KEXEC_FAIL="kexec_file_load failed: Key was rejected by service"))
    with pytest.raises(ArmError, match="Key was rejected by service") as info:
        kexec.load(_plan(paths))
    assert "Key was rejected" in info.value.stderr
    assert info.value.argv[:2] == ["kexec", "-p"]


def test_load_that_does_not_set_the_flag_is_a_failure(tmp_path: Path) -> None:
    paths = make_root(tmp_path / "root", unarmed_guest())
    kexec = Kexec(paths, fake_tools(paths.root, tmp_path / "log", FAKE_KEXEC_NOFLIP="1"))
    with pytest.raises(ArmError, match="kexec_crash_loaded is not 1"):
        kexec.load(_plan(paths))


def test_missing_kexec_is_an_arm_error(tmp_path: Path) -> None:
    from crashd.core.tools import ToolRunner

    paths = make_root(tmp_path / "root", unarmed_guest())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArmError, match="not found"):
        Kexec(paths, ToolRunner(path=str(empty))).load(_plan(paths))


# --- properties -------------------------------------------------------------

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.,/:-", min_size=1, max_size=8)
_quoted = st.builds(lambda k, v: f'{k}="{v}"', _word, st.text(alphabet="ab c=-", max_size=8))
_token = st.one_of(_word, st.builds(lambda k, v: f"{k}={v}", _word, _word), _quoted).filter(lambda t: t != "--")


@given(st.lists(_token, max_size=12), st.sampled_from([" ", "  ", "\t"]))
def test_split_round_trips_tokens(tokens: list[str], sep: str) -> None:
    assert split_cmdline(sep.join(tokens) + "\n") == tokens


@given(st.lists(_token, max_size=12), st.lists(_word, max_size=4), st.lists(_token, max_size=4))
def test_capture_cmdline_invariants(running: list[str], remove: list[str], append: list[str]) -> None:
    out = split_cmdline(capture_cmdline(" ".join(running), remove, append, BOOT_ID))
    assert out[-2:] == ["systemd.unit=crashd-capture.target", f"crashd.boot_id={BOOT_ID}"]
    keys = [t.split("=", 1)[0].replace('"', "") for t in out[:-2]]
    assert not set(keys) & set(remove) - {t.split("=", 1)[0].replace('"', "") for t in append}
    assert "systemd.unit" not in keys and "crashd.boot_id" not in keys
