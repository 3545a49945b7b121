"""Finding the debug vmlinux of a dump's kernel: the order, the build-id check, what to install."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from crashd.analyze.debuginfo import KernelId, NoDebugInfo, find_debuginfo, package_hint
from crashd.core.paths import HostPaths
from crashd.core.tools import ToolRunner
from tests.unit.analyze.elfs import write_vmlinux

REL = "6.1.0-57-amd64"
BID = "6a2b4ac77585b8cf102cba771300e573c8489b69"
OTHER = "eb4fbcd037e7253717950bf2b93bd5566f47c56f"
KERNEL = KernelId(REL, BID)


def _debian(root: Path) -> HostPaths:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "os-release").write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    return HostPaths(root)


def test_build_id_link_wins_over_the_release_name(tmp_path: Path) -> None:
    paths = _debian(tmp_path)
    by_release = write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    by_id = write_vmlinux(tmp_path / "usr/lib/debug/.build-id" / BID[:2] / f"{BID[2:]}.debug", bytes.fromhex(BID))
    info = find_debuginfo(paths, KERNEL)
    assert info.vmlinux == by_id and info.verified and info.how.startswith("build-id")
    by_id.unlink()
    info = find_debuginfo(paths, KERNEL)
    assert info.vmlinux == by_release and info.verified and info.how == f"release: /usr/lib/debug/boot/vmlinux-{REL}"


def test_a_wrong_build_id_is_refused_and_named_never_used(tmp_path: Path) -> None:
    paths = _debian(tmp_path)
    write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(OTHER))
    with pytest.raises(NoDebugInfo) as exc:
        find_debuginfo(paths, KERNEL)
    assert exc.value.exit_code == 3
    text = str(exc.value)
    assert text.splitlines()[0] == f"no debug info for kernel {REL}, build id {BID}: install linux-image-{REL}-dbg"
    assert f"refused /usr/lib/debug/boot/vmlinux-{REL}: build id {OTHER}, the dump's kernel has {BID}" in text


def test_a_matching_file_later_in_the_order_is_used_after_a_refused_one(tmp_path: Path) -> None:
    paths = _debian(tmp_path)
    write_vmlinux(tmp_path / "opt/dbg/boot" / f"vmlinux-{REL}", bytes.fromhex(OTHER))  # configured dir: wrong build
    good = write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    info = find_debuginfo(paths, KERNEL, dirs=["/opt/dbg"])
    assert info.vmlinux == good
    assert [r.path for r in info.rejected] == [f"/opt/dbg/boot/vmlinux-{REL}"]


def test_command_line_dirs_then_configured_dirs_then_usr_lib_debug(tmp_path: Path) -> None:
    paths = _debian(tmp_path / "root")
    system = write_vmlinux(tmp_path / "root/usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    conf = write_vmlinux(tmp_path / "root/srv/dbg" / f"vmlinux-{REL}", bytes.fromhex(BID))  # flat layout
    given = write_vmlinux(tmp_path / "elsewhere" / f"vmlinux-{REL}", bytes.fromhex(BID))
    assert find_debuginfo(paths, KERNEL, dirs=["/srv/dbg"], extra=[tmp_path / "elsewhere"]).vmlinux == given
    assert find_debuginfo(paths, KERNEL, dirs=["/srv/dbg"]).vmlinux == conf
    assert find_debuginfo(paths, KERNEL).vmlinux == system


def test_without_a_build_id_in_the_dump_the_release_match_is_used_unverified(tmp_path: Path) -> None:
    paths = _debian(tmp_path)
    write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(OTHER))
    info = find_debuginfo(paths, KernelId(REL, None))
    assert info.verified is False


def test_module_debug_files_are_indexed_by_name(tmp_path: Path) -> None:
    paths = _debian(tmp_path)
    write_vmlinux(tmp_path / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    ko = write_vmlinux(tmp_path / "usr/lib/debug/lib/modules" / REL / "kernel/drivers/block/virtio_blk.ko", None)
    info = find_debuginfo(paths, KERNEL)
    assert info.module_file("virtio-blk") == ko and info.module_file("virtio_blk") == ko
    assert info.module_file("ext4") is None


@pytest.mark.parametrize(("os_release", "hint"), [
    ("ID=debian\n", f"linux-image-{REL}-dbg"),
    ("ID=ubuntu\nID_LIKE=debian\n", f"linux-image-unsigned-{REL}-dbgsym (from ddebs.ubuntu.com)"),
    ('ID=fedora\n', f"kernel-debuginfo-{REL} (dnf debuginfo-install kernel-{REL})"),
    ("ID=alpine\n", f"the debug vmlinux with build id {BID}"),
])
def test_the_package_is_named_in_the_distribution_s_words(tmp_path: Path, os_release: str, hint: str) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(os_release)
    assert package_hint(HostPaths(tmp_path), KERNEL) == hint


def _fake_debuginfod(bin_dir: Path, answer: Path | None) -> ToolRunner:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "debuginfod-find"
    body = f"print({str(answer)!r})" if answer else "import sys; print('Server query failed: No such file or directory', file=sys.stderr); sys.exit(2)"
    script.write_text(f"#!{sys.executable}\nimport sys\nassert sys.argv[1:3] == ['debuginfo', {BID!r}], sys.argv\n{body}\n")
    script.chmod(0o755)
    return ToolRunner(path=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_debuginfod_is_asked_only_with_urls_and_network_and_its_answer_is_checked(tmp_path: Path) -> None:
    paths = _debian(tmp_path / "root")
    cached = write_vmlinux(tmp_path / "cache" / "debuginfo", bytes.fromhex(BID))
    tools = _fake_debuginfod(tmp_path / "bin", cached)
    env = {"DEBUGINFOD_URLS": "https://debuginfod.debian.net"}
    assert find_debuginfo(paths, KERNEL, tools=tools, network=True, env=env).vmlinux == cached
    with pytest.raises(NoDebugInfo):
        find_debuginfo(paths, KERNEL, tools=tools, network=False, env=env)
    with pytest.raises(NoDebugInfo):
        find_debuginfo(paths, KERNEL, tools=tools, network=True, env={})
    write_vmlinux(cached, bytes.fromhex(OTHER))  # the server's file is checked like any other
    with pytest.raises(NoDebugInfo, match=f"build id {OTHER}, the dump's kernel has {BID}"):
        find_debuginfo(paths, KERNEL, tools=tools, network=True, env=env)


def test_a_failing_debuginfod_is_named(tmp_path: Path) -> None:
    tools = _fake_debuginfod(tmp_path / "bin", None)
    with pytest.raises(NoDebugInfo, match="refused debuginfod: build id .*: Server query failed"):
        find_debuginfo(_debian(tmp_path / "root"), KERNEL, tools=tools, network=True, env={"DEBUGINFOD_URLS": "http://x"})
