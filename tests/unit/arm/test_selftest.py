"""The self-test's state across the crash: pending, the verdict after the reboot, "untested since"."""

from __future__ import annotations

import json
import os
from pathlib import Path

from crashd.arm.bootfiles import find_boot_files
from crashd.arm.kexec import capture_cmdline
from crashd.arm.selftest import fingerprint, new_test_id, record_pending, selftest_status
from crashd.capture.save import selftest_id as capture_test_id
from crashd.core.config import load_config
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.selftest_state import STATE_FILE, read_selftest, selftest_dir
from crashd.ingest.selftest_result import resolve
from tests.fakeroot import RELEASE, armed_guest, build_root

CRASHED = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"
AFTER = "99999999-8c1e-4a53-9d55-8c2ba3b7e1a2\n"


def setup(tmp_path: Path) -> tuple[HostPaths, dict[str, str]]:
    paths = build_root(tmp_path, armed_guest())
    config = load_config(paths)
    fp = fingerprint(paths, config, find_boot_files(paths, config.arm, RELEASE), 256 << 20)
    return paths, fp


def record(paths: HostPaths, name: str, *, complete: bool, test_id: str | None, boot: str = CRASHED) -> None:
    d = paths.crash_store / name
    d.mkdir(parents=True, mode=0o700)
    capture = {"test_id": test_id, "complete": complete, "errors": [] if complete else ["makedumpfile: ENOSPC"]}
    (d / "metadata.json").write_text(json.dumps({"complete": complete, "crashed_boot_id": boot, "capture": capture}))


def reboot(paths: HostPaths) -> None:
    paths.boot_id.write_text(AFTER)


def test_capture_cmdline_carries_the_test_id_after_the_boot_id_and_never_an_inherited_one() -> None:
    line = capture_cmdline("root=/dev/vda crashd.test_id=0000000000000000 -- single", (), ("nr_cpus=1",), "a" * 32,
                           "0123456789abcdef")
    assert line == ("root=/dev/vda nr_cpus=1 systemd.unit=crashd-capture.target crashd.boot_id=" + "a" * 32
                    + " crashd.test_id=0123456789abcdef -- single")
    assert "crashd.test_id" not in capture_cmdline("root=/dev/vda crashd.test_id=0000000000000000", (), (), "a" * 32)
    assert capture_test_id(line) == "0123456789abcdef"
    assert capture_test_id("crashd.test_id=../../etc") is None


def test_pending_is_durable_0600_and_stays_pending_in_the_same_boot(tmp_path: Path) -> None:
    paths, fp = setup(tmp_path)
    tid = new_test_id()
    record_pending(paths, tid, CRASHED, fp)
    st = os.stat(selftest_dir(paths) / STATE_FILE)
    assert st.st_mode & 0o777 == 0o600 and os.stat(selftest_dir(paths)).st_mode & 0o777 == 0o700
    assert resolve(paths, Journal(None)) is None  # the crash has not happened yet
    assert selftest_status(paths, fp).state == "pending"


def test_a_complete_record_carrying_the_id_passes_then_an_initrd_change_makes_it_untested(tmp_path: Path) -> None:
    paths, fp = setup(tmp_path)
    tid = new_test_id()
    record_pending(paths, tid, CRASHED, fp)
    reboot(paths)
    record(paths, "20261201T203000-kdump-0f5c3b5e", complete=True, test_id=tid)
    result = resolve(paths, Journal(None))
    assert result is not None and result["result"] == "passed" and result["record"] == "20261201T203000-kdump-0f5c3b5e"
    state = read_selftest(paths)
    assert state["pending"] is None and state["last_passed"] == result
    assert selftest_status(paths, fp).state == "passed"
    assert resolve(paths, Journal(None)) is None  # judged once

    initrd = paths.boot(f"initrd.img-{RELEASE}")
    new = initrd.with_name(initrd.name + ".new")
    new.write_bytes(initrd.read_bytes() + b"rebuilt")
    new.rename(initrd)
    config = load_config(paths)
    now = fingerprint(paths, config, find_boot_files(paths, config.arm, RELEASE), 256 << 20)
    status = selftest_status(paths, now)
    assert status.state == "untested" and status.changed == ["initrd"]
    assert status.text.startswith("untested since ") and "initrd changed" in status.text
    smaller = dict(now, reservation=str(128 << 20))
    assert selftest_status(paths, smaller).changed == ["initrd", "reservation"]


def test_failures_say_why(tmp_path: Path) -> None:
    paths, fp = setup(tmp_path)
    for records, why in [
        ([], "no crash record of the tested crash"),
        ([("20261201T203000-pstore-0f5c3b5e", False, None)], "no capture carrying the test id"),
        ([("20261201T203000-kdump-0f5c3b5e", False, "ID")], "carries the test id but is incomplete: makedumpfile: ENOSPC"),
    ]:
        tid = new_test_id()
        for name, complete, carried in records:
            record(paths, name, complete=complete, test_id=tid if carried else None)
        paths.boot_id.write_text("0f5c3b5e-8c1e-4a53-9d55-8c2ba3b7e1a2\n")
        record_pending(paths, tid, CRASHED, fp)
        reboot(paths)
        result = resolve(paths, Journal(None))
        assert result is not None and result["result"] == "failed" and why in result["why"], result
        status = selftest_status(paths, fp)
        assert status.state == "failed" and "FAILED" in status.text
        for name, *_ in records:
            (paths.crash_store / name / "metadata.json").unlink()
            (paths.crash_store / name).rmdir()


def test_a_planted_or_foreign_state_file_reads_as_never_tested(tmp_path: Path) -> None:
    paths, fp = setup(tmp_path)
    d = selftest_dir(paths)
    d.mkdir(parents=True)
    (d / "elsewhere.json").write_text(json.dumps({"schema": 1, "pending": None, "last": None, "last_passed": None}))
    (d / STATE_FILE).symlink_to(d / "elsewhere.json")
    assert selftest_status(paths, fp).state == "never"
    (d / STATE_FILE).unlink()
    (d / STATE_FILE).write_text(json.dumps({"schema": 1, "last_passed": {"id": "../x"}}))
    assert selftest_status(paths, fp).state == "never"
