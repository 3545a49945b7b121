"""A capture target given as UUID=/LABEL=/device is mounted for the run and unmounted after."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crashd.core.tools import ToolResult, ToolRunner
from crashd.ingest.run import Ingester
from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages


class FakeMount(ToolRunner):
    """Records argv; ``mount`` 'mounts' by putting a capture directory at the mount point."""

    def __init__(self, machine: Machine, fail: bool = False):
        super().__init__(path="/nonexistent")
        self.machine = machine
        self.fail = fail
        self.calls: list[list[str]] = []

    def run(
        self, argv: Sequence[str], *, timeout: float | None = None, check: bool = False, input: str | None = None
    ) -> ToolResult:
        args = [str(a) for a in argv]
        self.calls.append(args)
        if args[0] == "mount" and self.fail:
            from crashd.core.errors import ToolError

            raise ToolError(args, None, "", reason="mount: not found on PATH")
        if args[0] == "mount":
            mnt = Path(args[-1])
            real = self.machine.capture()  # built in /var/crash, then moved under the mount point
            real.rename(mnt / real.name)
        return ToolResult(args, 0, "", "")


def test_device_target_is_mounted_read_and_unmounted(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[capture]\ntarget = UUID=abcd\nmount_options = noatime\n")
    tools = FakeMount(m)
    result = Ingester(m.paths, m.config(), m.journal, tools).run()
    mnt = str(m.paths.state_dir / "target")
    assert tools.calls == [["mount", "-o", "noatime", "UUID=abcd", mnt], ["umount", mnt]]
    assert [r.split("-")[1] for r in result.created] == ["kdump"]


def test_mount_failure_still_ingests_pstore_and_reports(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[capture]\ntarget = UUID=abcd\n")
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages()))
    result = Ingester(m.paths, m.config(), m.journal, FakeMount(m, fail=True)).run()
    assert [r.split("-")[1] for r in result.created] == ["pstore"]
    assert result.problems and "UUID=abcd" in result.problems[0]


def test_directory_target_the_unit_cannot_write_is_named_and_still_read(tmp_path: Path) -> None:
    m = Machine(tmp_path, "[capture]\ntarget = /srv/crash\n")
    (tmp_path / "srv/crash").mkdir(parents=True)
    d = m.capture()
    d.rename(tmp_path / "srv/crash" / d.name)
    result = Ingester(m.paths, m.config(), m.journal).run()
    assert [r.split("-")[1] for r in result.created] == ["kdump"]
    assert any("/srv/crash" in p and "/var/crash" in p for p in result.problems)


def test_unusable_device_target_still_ingests_the_kernel_log_kept_on_the_root_fs(tmp_path: Path) -> None:
    """crashd save keeps dmesg.txt and capture.json in /var/crash/crashd when the target cannot be used."""
    from crashd.capture.spool import spool_path

    m = Machine(tmp_path, "[capture]\ntarget = UUID=abcd\n")
    d = m.capture()
    (d / "vmcore").unlink()
    (d / "dmesg.txt").write_text("[    1.0] Kernel panic - not syncing: kept on the root fs\n")
    fallback = spool_path(m.spool)
    fallback.mkdir(mode=0o700)
    d.rename(fallback / d.name)
    result = Ingester(m.paths, m.config(), m.journal, FakeMount(m, fail=True)).run()
    assert [r.split("-")[1] for r in result.created] == ["kdump"]
    assert "UUID=abcd" in result.problems[0]
