"""``crashd debug``, ``crashd analyze`` and ``crashd show``'s debug lines, as subprocesses on a fake root.

The debugger is a fake ``crash``/``drgn`` on PATH that prints the argv it got (one word a line),
so the tests see exactly what would be executed: no shell, the -A words where they belong."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.integration.cli import run_crashd
from tests.unit.analyze.elfs import write_vmlinux
from tests.vmcore_builder import build_machine, write_elf

REL = "6.1.0-57-amd64"
BID = "6a2b4ac77585b8cf102cba771300e573c8489b69"
NAME = "20261202T140302-kdump-1799bbbf"
SYNTH_BID = "0123456789abcdef0123456789abcdef01234567"  # tests/vmcore_builder.py's VMCOREINFO


def _root(tmp_path: Path, *, debuginfo: str | None = BID) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text("ID=debian\n")
    record = root / "var/lib/crash" / NAME
    record.mkdir(parents=True, mode=0o700)
    m, _ = build_machine(["Kernel panic - not syncing: sysrq triggered crash"], release=REL)
    m.vmcoreinfo += f"BUILD-ID={BID}\n"
    write_elf(record / "vmcore", m)
    meta = {"kind": "kdump", "complete": True, "kernel": {"release": REL}, "panic": {"kind": "sysrq"},
            "sources": {"vmcore": {"file": "vmcore", "format": "elf", "complete": True}, "pstore": []}}
    (record / "metadata.json").write_text(json.dumps(meta))
    if debuginfo:
        write_vmlinux(root / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(debuginfo))
    return root, record


def _fake_debuggers(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("crash", "drgn"):
        (bin_dir / name).write_text(f"#!{sys.executable}\nimport sys\nprint('\\n'.join(sys.argv))\nsys.exit(7)\n")
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def test_debug_runs_crash_with_the_matching_vmlinux_and_the_extra_words(tmp_path: Path) -> None:
    root, record = _root(tmp_path)
    path = _fake_debuggers(tmp_path)
    res = run_crashd(["debug", "2026", "-A", "-s -i 'my cmds; rm -rf /'"], root, path=path)
    assert res.returncode == 7, res.stderr  # the debugger's exit status
    argv = res.stdout.splitlines()
    assert argv[1:] == ["-s", "-i", "my cmds; rm -rf /", str(root / f"usr/lib/debug/boot/vmlinux-{REL}"),
                        str(record / "vmcore")]


def test_debug_with_drgn_from_the_environment_or_the_option(tmp_path: Path) -> None:
    root, record = _root(tmp_path)
    path = _fake_debuggers(tmp_path)
    vmlinux = str(root / f"usr/lib/debug/boot/vmlinux-{REL}")
    for args, env in ((["debug", NAME], {"CRASHD_DEBUGGER": "drgn"}), (["debug", NAME, "--debugger=drgn"], {})):
        res = run_crashd(args, root, path=path, env=env)
        assert res.stdout.splitlines()[1:] == ["-c", str(record / "vmcore"), "-s", vmlinux], res.stderr
    res = run_crashd(["debug", NAME], root, path=path, env={"CRASHD_DEBUGGER": "gdb"})
    assert res.returncode == 2 and "$CRASHD_DEBUGGER='gdb': not one of crash, drgn" in res.stderr


def test_debug_print_shows_the_command_and_a_dump_path_works_too(tmp_path: Path) -> None:
    root, record = _root(tmp_path)
    res = run_crashd(["debug", str(record / "vmcore"), "--print"], root)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"crash {root}/usr/lib/debug/boot/vmlinux-{REL} {record}/vmcore"


def test_without_debug_info_one_line_names_the_package_exit_3(tmp_path: Path) -> None:
    root, _ = _root(tmp_path, debuginfo=None)
    res = run_crashd(["debug", NAME], root, path=_fake_debuggers(tmp_path))
    assert res.returncode == 3 and res.stdout == ""
    assert res.stderr == f"crashd debug: no debug info for kernel {REL}, build id {BID}: install linux-image-{REL}-dbg\n"


def test_a_wrong_build_id_is_refused_by_name(tmp_path: Path) -> None:
    other = "eb4fbcd037e7253717950bf2b93bd5566f47c56f"
    root, _ = _root(tmp_path, debuginfo=other)
    res = run_crashd(["debug", NAME], root, path=_fake_debuggers(tmp_path))
    assert res.returncode == 3
    assert f"refused /usr/lib/debug/boot/vmlinux-{REL}: build id {other}, the dump's kernel has {BID}" in res.stderr


def test_a_missing_debugger_is_named(tmp_path: Path) -> None:
    root, _ = _root(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_crashd(["debug", NAME], root, path=str(empty))
    assert res.returncode == 1 and "crash is not installed; install crash" in res.stderr


def test_show_names_the_debug_command_or_what_to_install(tmp_path: Path) -> None:
    root, record = _root(tmp_path)
    res = run_crashd(["show", NAME], root)
    assert res.returncode == 0, res.stderr
    assert f"Debug: crashd debug {NAME}  (crash {root}/usr/lib/debug/boot/vmlinux-{REL} {record}/vmcore)" in res.stdout
    (root / "usr/lib/debug/boot" / f"vmlinux-{REL}").unlink()
    res = run_crashd(["show", NAME], root)
    assert f"Debug info: not found; install linux-image-{REL}-dbg" in res.stdout


def test_analyze_without_debug_info_says_what_to_install_and_records_it_once(tmp_path: Path) -> None:
    root, record = _root(tmp_path, debuginfo=None)
    res = run_crashd(["analyze", NAME], root)
    assert res.returncode == 3 and res.stdout == ""
    assert res.stderr == f"crashd analyze: no analysis: install linux-image-{REL}-dbg\n"
    assert json.loads((record / "analysis.json").read_text())["status"] == "no-debuginfo"
    shown = run_crashd(["show", NAME], root).stdout
    assert shown.count(f"linux-image-{REL}-dbg") == 1
    assert f"Analysis: none; install linux-image-{REL}-dbg, then crashd analyze {NAME}" in shown


def test_a_record_without_a_dump_is_not_applicable(tmp_path: Path) -> None:
    root, record = _root(tmp_path)
    meta = json.loads((record / "metadata.json").read_text())
    meta["sources"]["vmcore"] = None
    (record / "metadata.json").write_text(json.dumps(meta))
    for verb in ("debug", "analyze"):
        res = run_crashd([verb, NAME], root)
        assert res.returncode == 3 and f"{NAME}: the record holds no dump" in res.stderr


def test_analyze_with_debug_info_drgn_cannot_use_fails_and_says_why(tmp_path: Path) -> None:
    """The vmlinux here has the right build id but no DWARF: drgn (the real one) refuses it."""
    root, record = _root(tmp_path)
    res = run_crashd(["analyze", NAME], root, timeout=300)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert res.stderr.startswith("crashd analyze: analysis failed: ")
    assert not (record / "analysis.json").exists()  # a failure leaves the record as it was


def _saved_and_ingested(tmp_path: Path, extra: dict[str, str | bytes]) -> tuple[Path, str, str]:
    """`crashd save` in a fake capture kernel, then `crashd ingest`: (root, record name, ingest output)."""
    from tests.fakeroot import build_root
    from tests.unit.ingest.scenario import BOOT_CRASHED, sysrq_messages
    from tests.vmcore_builder import write_elf_vmcore

    build_root(tmp_path, {
        "/proc/cmdline": f"console=ttyS0 systemd.unit=crashd-capture.target crashd.boot_id={BOOT_CRASHED}\n",
        "/proc/sys/kernel/random/boot_id": "99999999-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
        "/etc/crashd.conf": "[capture]\ncollector = copy\nfinal_action = shell\n",
        "/etc/os-release": "ID=debian\n",
        "/var/crash/": "",
        "/sys/fs/pstore/": "",
        **extra,
    })
    write_elf_vmcore(tmp_path / "proc/vmcore", sysrq_messages())
    assert run_crashd(["save"], tmp_path).returncode == 0
    res = run_crashd(["ingest"], tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    (name,) = [p.name for p in (tmp_path / "var/lib/crash").iterdir() if p.name[0].isdigit()]
    return tmp_path, name, res.stdout + res.stderr


def test_ingest_without_debug_info_says_once_what_to_install(tmp_path: Path) -> None:
    root, name, out = _saved_and_ingested(tmp_path, {})
    release = json.loads((root / "var/lib/crash" / name / "metadata.json").read_text())["kernel"]["release"]
    assert f"{name}: no debug info; install linux-image-{release}-dbg and run crashd analyze {name}" in out
    assert "analysis failed" not in out
    assert json.loads((root / "var/lib/crash" / name / "analysis.json").read_text())["status"] == "no-debuginfo"


def test_an_analysis_that_fails_at_ingest_leaves_the_record_and_is_one_line(tmp_path: Path) -> None:
    """A debug vmlinux drgn cannot use (the right build id, no DWARF): the analysis child fails."""
    from tests.unit.analyze.elfs import elf_with_build_id

    probe_root, _, _ = _saved_and_ingested(tmp_path / "probe", {})
    (rec,) = [p for p in (probe_root / "var/lib/crash").iterdir() if p.name[0].isdigit()]
    release = json.loads((rec / "metadata.json").read_text())["kernel"]["release"]
    root, name, out = _saved_and_ingested(tmp_path / "real",
                                          {f"/usr/lib/debug/boot/vmlinux-{release}": elf_with_build_id(bytes.fromhex(SYNTH_BID))})
    meta = json.loads((root / "var/lib/crash" / name / "metadata.json").read_text())
    assert meta["complete"] is True
    assert [line for line in out.splitlines() if "analysis failed" in line], out
    assert len([line for line in out.splitlines() if "analysis failed" in line]) == 1, out
    assert not (root / "var/lib/crash" / name / "analysis.json").exists()


def test_show_follows_debug_info_installed_after_ingest(tmp_path: Path) -> None:
    root, record = _root(tmp_path, debuginfo=None)
    assert run_crashd(["analyze", NAME], root).returncode == 3  # records "no-debuginfo"
    write_vmlinux(root / "usr/lib/debug/boot" / f"vmlinux-{REL}", bytes.fromhex(BID))
    shown = run_crashd(["show", NAME], root).stdout
    assert f"Analysis: not made yet; run crashd analyze {NAME}" in shown
    assert f"Debug: crashd debug {NAME}" in shown and "install" not in shown
