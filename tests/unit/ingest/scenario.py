"""Fake machines for ingest tests: a root with pstore entries and capture spool directories."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashd.core.config import Config, load_config
from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.ingest.run import Ingester, IngestResult
from crashd.ingest.store import Checkpoint, _no_checkpoint
from tests.fakeroot import build_root

BOOT_NOW = "1111aaaa8c1e4a539d558c2ba3b7e1a2"
BOOT_CRASHED = "0f5c3b5e8c1e4a539d558c2ba3b7e1a2"
PANIC = "Kernel panic - not syncing: sysrq triggered crash"


def sysrq_messages(at: float = 5.5) -> list[tuple[int, str]]:
    ns = int(at * 1e9)
    return [
        (
            1_000_000,
            "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2",
        ),
        (ns, "sysrq: Trigger a crash"),
        (ns + 300_000, PANIC),
        (ns + 500_000, "CPU: 0 PID: 1 Comm: init Kdump: loaded Not tainted 6.1.0-56-amd64 #1"),
        (ns + 600_000, "Call Trace:"),
        (ns + 700_000, " <TASK>"),
        (ns + 800_000, " sysrq_handle_crash+0x16/0x20"),
        (ns + 900_000, " </TASK>"),
    ]


def pstore_text(messages: list[tuple[int, str]], header: str = "Panic#1 Part1") -> bytes:
    lines = [header] + [f"<4>[{ns / 1e9:12.6f}] {text}" for ns, text in messages]
    return ("\n".join(lines) + "\n\nECC: No errors detected\n").encode()


@dataclass
class RecordingJournal(Journal):
    """A journal that remembers events (the real one's fields and message)."""

    events: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)

    def event(self, event: str, message: str, priority: int = 6, **fields: object) -> None:
        self.events.append((event, message, fields))


class Machine:
    """A fake root; ``capture()`` and ``pstore()`` add what a crash left behind."""

    def __init__(self, base: Path, conf: str = ""):
        files: dict[str, str | bytes | None] = {
            "/proc/sys/kernel/random/boot_id": "1111aaaa-8c1e-4a53-9d55-8c2ba3b7e1a2\n",
            "/sys/fs/pstore/": "",
            "/var/crash/": "",
        }
        if conf:
            files["/etc/crashd.conf"] = conf
        self.paths: HostPaths = build_root(base, files)
        self.journal = RecordingJournal()

    @property
    def store(self) -> Path:
        return self.paths.crash_store

    @property
    def spool(self) -> Path:
        return self.paths.var("crash")

    def config(self) -> Config:
        return load_config(self.paths)

    def pstore(self, name: str, data: bytes, mtime: float | None = None) -> Path:
        import os

        path = self.paths.pstore / name
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def last_boot(self, boot: str = BOOT_CRASHED) -> None:
        self.store.mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.store / ".last-boot").write_text(boot + "\n")

    def capture(
        self,
        *,
        stamp: str = "20261127T173600",
        boot: str = BOOT_CRASHED,
        dump: Path | None = None,
        dump_name: str = "vmcore",
        messages: list[tuple[int, str]] | None = None,
        info: dict[str, Any] | None = None,
        raw_info: bytes | None = None,
        dmesg: str | None = None,
        incomplete: bool = False,
        write_info: bool = True,
        crash_time: int | None = 1_720_000_000,
    ) -> Path:
        """A capture directory: an ELF vmcore built from ``messages`` (or a given dump)."""
        from tests.vmcore_builder import write_elf_vmcore

        d = self.spool / f"{stamp}-{boot[:8]}{'.incomplete' if incomplete else ''}"
        d.mkdir(parents=True)
        if dump is not None:
            shutil.copyfile(dump, d / dump_name)
        else:
            write_elf_vmcore(d / dump_name, messages or sysrq_messages(), crash_time=crash_time)
        if dmesg is not None:
            (d / "dmesg.txt").write_text(dmesg)
        if raw_info is not None:
            (d / "capture.json").write_bytes(raw_info)
        elif write_info:
            full = capture_json(boot, dump_name)
            full.update(info or {})
            (d / "capture.json").write_text(json.dumps(full))
        return d

    def ingest(self, checkpoint: Checkpoint = _no_checkpoint, now: float | None = None) -> IngestResult:
        return Ingester(self.paths, self.config(), self.journal, checkpoint=checkpoint, now=now).run()

    def records(self) -> list[Path]:
        if not self.store.is_dir():
            return []
        return sorted(p for p in self.store.iterdir() if not p.name.startswith("."))

    def metadata(self, record: Path) -> dict[str, Any]:
        data = json.loads((record / "metadata.json").read_text())
        assert isinstance(data, dict)
        return data


def capture_json(boot: str, dump_name: str = "vmcore") -> dict[str, Any]:
    return {
        "schema": 1,
        "collector": "copy",
        "dump_level": None,
        "compression": "none",
        "dump_file": dump_name,
        "dmesg": "dmesg.txt",
        "bytes_written": 1,
        "estimated_size": None,
        "seconds": 1.0,
        "started": "2026-11-27T17:36:00Z",
        "finished": "2026-11-27T17:36:01Z",
        "crashed_boot_id": boot,
        "kernel_release": "6.1.0-56-amd64",
        "complete": True,
        "errors": [],
        "steps": [],
    }
