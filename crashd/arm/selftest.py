"""The self-test's arm side: a pending test before the crash, and what status says after.

``crashd test --crash`` records a pending test (an id, the boot that crashes, and
a fingerprint of what the capture depends on) and loads the capture kernel with
``crashd.test_id=<id>``; ingest decides passed or failed after the reboot
(crashd.ingest.selftest_result). A passed test vouches only for the set-up it ran
on: when the kernel, initrd, device tree, reservation or capture configuration
change, ``crashd status`` says "untested since …", as kdumpctl's vmcore-creation
status does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from crashd.arm.bootfiles import BootFiles
from crashd.core.paths import HostPaths
from crashd.core.selftest_state import PendingTest, SelftestResult, SelftestState, read_selftest, write_selftest
from crashd.core.settings import Config

__all__ = ["FINGERPRINT_KEYS", "SelftestStatus", "fingerprint", "new_test_id", "record_pending", "selftest_status"]

FINGERPRINT_KEYS = ("kernel", "initrd", "dtb", "reservation", "capture_config")


def new_test_id() -> str:
    return secrets.token_hex(8)


def _file(paths: HostPaths, path: object) -> str:
    """``/boot/initrd.img-R size mtime``: a rewrite (update-initramfs) changes it."""
    if path is None:
        return "none"
    from pathlib import Path

    p = Path(str(path))
    try:
        st = p.stat()
    except OSError:
        return f"{paths.unhost(p)} missing"
    mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{paths.unhost(p)} {st.st_size} {mtime} {st.st_mtime_ns}"


def fingerprint(paths: HostPaths, config: Config, boot: BootFiles, reserved: int) -> dict[str, str]:
    """What a capture depends on; equal fingerprints mean the last test still speaks for it."""
    capture = repr((config.capture, config.arm.kernel, config.arm.initrd, config.arm.dtb,
                    config.arm.cmdline_remove, config.arm.cmdline_append, config.arm.kexec_file_load,
                    config.arm.image_size))
    return {
        "kernel": _file(paths, boot.kernel),
        "initrd": _file(paths, boot.initrd if config.arm.initrd != "none" else None),
        "dtb": _file(paths, boot.dtb),
        "reservation": str(reserved),
        "capture_config": "sha256:" + hashlib.sha256(capture.encode()).hexdigest()[:16],
    }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_pending(paths: HostPaths, test_id: str, boot_id: str, fp: dict[str, str]) -> PendingTest:
    """Durably note the test before the crash: the reboot must find it."""
    state = read_selftest(paths)
    pending: PendingTest = {"id": test_id, "started": _now(), "boot_id": boot_id, "fingerprint": fp}
    state["pending"] = pending
    write_selftest(paths, state)
    return pending


@dataclass(frozen=True)
class SelftestStatus:
    """What ``crashd status`` says about the self-test."""

    state: str  # never | pending | passed | failed | untested
    text: str
    last: SelftestResult | None = None
    changed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"state": self.state, "text": self.text, "last": self.last, "changed": self.changed}


def _changed_since(last: SelftestResult, current: dict[str, str]) -> tuple[list[str], str]:
    """Which parts differ, and since when (a file's new mtime; else the passed test)."""
    changed = [k for k in FINGERPRINT_KEYS if last["fingerprint"].get(k) != current.get(k)]
    times = [current[k].split()[2] for k in changed
             if k in ("kernel", "initrd", "dtb") and len(current.get(k, "").split()) == 4]
    return changed, max(times) if times else last["finished"]


def selftest_status(paths: HostPaths, current: dict[str, str], state: SelftestState | None = None) -> SelftestStatus:
    state = read_selftest(paths) if state is None else state
    last, passed, pending = state["last"], state["last_passed"], state["pending"]
    if pending is not None and (last is None or last["id"] != pending["id"]):
        return SelftestStatus("pending", f"test {pending['id']} started {pending['started']}: "
                                     "waiting for the crash and the reboot", last)
    if last is not None and last["result"] == "failed":
        note = f"; last passed {passed['finished']}" if passed else ""
        return SelftestStatus("failed", f"last test FAILED {last['finished']}: {last['why']}{note}", last)
    if passed is None:
        return SelftestStatus("never", "never tested: 'crashd test --crash' proves a crash is captured", last)
    changed, since = _changed_since(passed, current)
    if changed:
        return SelftestStatus("untested", f"untested since {since}: {', '.join(changed)} changed "
                                      f"(last test passed {passed['finished']})", passed, changed)
    record = f", record {passed['record']}" if passed.get("record") else ""
    return SelftestStatus("passed", f"test passed {passed['finished']}{record}", passed)
