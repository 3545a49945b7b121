"""``metadata.json``, schema 1: the crash record as a program reads it.

Typed so that a field renamed in one place cannot silently drop out of the record
(``crashd list``, ``show``, retention and other machines' tools read these files).
Optional values are ``None``, never absent. See README "Crash records"; ``capture`` is
:class:`crashd.capture.spool.CaptureInfo` as read back from the capture.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from crashd.crashlog.summary import PanicInfo

__all__ = ["FileEntry", "KernelInfo", "PstoreSource", "RecordMetadata", "Sources", "UncleanSource", "VmcoreSource"]


class KernelInfo(TypedDict):
    machine: str | None  # "x86_64", "aarch64", "arm" (from the dump's ELF header)
    page_size: int | None
    release: str | None  # uname -r of the crashed kernel
    version: str | None  # the "#1 SMP PREEMPT_DYNAMIC Debian …" part of the banner


class VmcoreSource(TypedDict, total=False):
    complete: bool | None  # every page of the dump was readable
    file: str | None  # the dump's name in the record
    format: str | None  # "elf", "kdump", "flat"
    spool: str  # the capture directory it came from
    location: str  # ssh://… or nfs://…: the dump lives on a dump server, not in the record
    spool_digest: str  # that directory's capture.json + dmesg.txt (names repeat; see ingest.sources)
    warnings: list[str]


class PstoreSource(TypedDict):
    backend: str
    compression: list[str] | None
    ecc: str | None
    missing_parts: list[int]
    name: str
    files: list[str]
    part_count: int
    reason: str | None
    time: str | None


class UncleanSource(TypedDict):
    """An armed boot that ended without a clean shutdown and left no dump (crashd.ingest.unclean)."""

    boot_id: str
    release: str | None  # the kernel that was running
    reserved: int | None  # bytes reserved for the capture kernel then
    armed_at: str | None
    readiness: str  # what crashd said then: "armed" or "armed, but …"
    degraded: list[dict[str, Any]]  # the degraded readiness checks of that boot
    needed_mib: int | None  # the capture kernel's estimated need then
    summary: str
    likely_reasons: list[str]  # possibilities, each said as one
    journal: str | None  # the file holding that boot's last journal lines, None when there were none
    journal_note: str | None  # why there are none (no journal, journalctl failed)


class Sources(TypedDict):
    vmcore: VmcoreSource | None
    pstore: list[PstoreSource]
    unclean: NotRequired[UncleanSource | None]  # only in unclean-reset records (absent in the others)


class FileEntry(TypedDict):
    sha256: str
    size: int


class RecordMetadata(TypedDict):
    schema: int
    id: str
    kind: str  # "kdump", "pstore", "kdump+pstore", "unclean-reset"
    complete: bool  # nothing else ever claims completeness
    crash_time: str | None
    ingested_at: str | None
    crashed_boot_id: str | None
    kernel: KernelInfo
    panic: PanicInfo
    signature: str | None
    sources: Sources
    files: dict[str, FileEntry]
    capture: dict[str, Any] | None  # capture.json as the capture kernel wrote it (see CaptureInfo)
