"""The declarative table of every setting, and the typed values they parse into.

``etc/crashd.conf`` documents exactly these settings (a test keeps the two in
step). Value parsers raise ``ValueError`` with a message meant for a person.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crashd.core.capnet import parse_network
from crashd.core.remote import is_remote, parse_remote

__all__ = [
    "ACTIONS",
    "AnalyzeConfig",
    "ArmConfig",
    "CaptureConfig",
    "Config",
    "IngestConfig",
    "PanicConfig",
    "RetentionConfig",
    "SECTION_TYPES",
    "SETTINGS",
    "Setting",
    "parse_bool",
    "parse_duration",
    "parse_list",
    "parse_size",
    "parse_target",
    "parse_tristate",
    "sections",
    "setting",
]

_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r} (use yes or no)")


# Larger numbers are typing accidents, not settings: refuse them with one line
# instead of letting float() overflow or a 400-digit int reach the arithmetic.
MAX_SIZE = 1 << 60  # 1 EiB
MAX_DURATION = 100 * 366 * 86400  # a century
MAX_INT_DIGITS = 18


def _short(text: str, limit: int = 40) -> str:
    """``repr`` of a value, cut so an absurd one cannot flood a message."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text)} characters)"


def parse_size(text: str) -> int:
    """``128M``, ``2G``, ``4096``, ``1.5G`` → bytes (binary units, optional ``iB``).

    Exact integer arithmetic (no float): ``1.5G`` is 3 << 29, and a huge number is
    an error rather than an ``OverflowError``."""
    m = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {_short(text)} (use a number with K, M, G or T, e.g. 128M)")
    whole, frac, unit = m.group(1), (m.group(2) or "")[:MAX_INT_DIGITS], _SIZE_UNITS[m.group(3).upper()]
    if len(whole.lstrip("0")) > MAX_INT_DIGITS:
        raise ValueError(f"size too large: {_short(text)} (at most {MAX_SIZE >> 60}E)")
    value: int = (int(whole) * 10 ** len(frac) + int(frac or "0")) * unit // 10 ** len(frac)
    if value > MAX_SIZE:
        raise ValueError(f"size too large: {_short(text)} (at most {MAX_SIZE >> 60}E)")
    return value


def parse_duration(text: str) -> int:
    """``90d``, ``12h``, ``30m``, ``45s``, ``1h30m``, ``0`` → seconds."""
    s = text.strip()
    if s.isascii() and s.isdigit():
        parts = [(s, "s")]
    else:
        parts = re.findall(r"(\d+)\s*([smhdw])", s, re.ASCII)
        if not parts or re.sub(r"\s*\d+\s*[smhdw]\s*", "", s, flags=re.ASCII):
            raise ValueError(f"not a duration: {_short(text)} (use e.g. 30s, 12h, 90d)")
    if any(len(n.lstrip("0")) > MAX_INT_DIGITS for n, _ in parts):
        raise ValueError(f"duration too large: {_short(text)} (at most 100 years)")
    total = sum(int(n) * _DURATION_UNITS[u] for n, u in parts)
    if total > MAX_DURATION:
        raise ValueError(f"duration too large: {_short(text)} (at most 100 years)")
    return total


# systemd's rule: a comment is a line starting with '#' or ';'. A value that holds
# "<space>#" was almost certainly meant as a trailing comment; refusing it beats
# saving "LABEL=crashdump   # a partition" as the target and failing at crash time.
_INLINE_COMMENT = re.compile(r"\s[#;]")
# Device spellings of [capture] target (crashd.core.target.DEVICE_PREFIXES).
_TARGET_TAGS = ("UUID=", "LABEL=", "PARTUUID=", "PARTLABEL=")


def parse_target(text: str) -> str:
    """``[capture] target``: an absolute directory, ``/dev/…`` or a ``TAG=value``.

    Checked here so ``config check`` fails rather than the save in the capture kernel:
    a relative path (relative to what, in the capture kernel?) or ``..`` (which would
    walk out of ``--root``) is refused."""
    value = text.strip()
    if is_remote(value):  # ssh://, nfs://, HOST:/EXPORT (crashd.core.remote)
        parse_remote(value)
        return value
    for tag in _TARGET_TAGS:
        if value.startswith(tag):
            if not value[len(tag):]:
                raise ValueError(f"{tag} with an empty value")
            if "/" in value[len(tag):]:
                raise ValueError(f"{tag} value may not contain '/': {_short(value)}")
            return value
    if not value.startswith("/"):
        raise ValueError(f"must be an absolute directory, /dev/…, UUID=, LABEL=, PARTUUID= or PARTLABEL=: {_short(value)}")
    if ".." in value.split("/"):
        raise ValueError(f"may not contain '..': {_short(value)}")
    if value.rstrip("/") in ("", "/dev"):
        raise ValueError(f"not a usable target: {_short(value)}")
    return value


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def parse_tristate(text: str) -> bool | None:
    """yes / no / keep (None: leave the kernel's value alone)."""
    if text.strip().lower() == "keep":
        return None
    try:
        return parse_bool(text)
    except ValueError:
        raise ValueError(f"not yes, no or keep: {text!r}") from None


@dataclass(frozen=True)
class Setting:
    """One row of the table: where it lives, how to parse it, what it means."""

    section: str
    key: str
    type: str  # bool, int, size, duration, enum, list, str, tristate, levels, target, network
    default: str
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    keep: bool = False  # int settings only: ``keep`` = leave the kernel's value alone

    def parse(self, text: str) -> Any:
        value = text.strip()
        if _INLINE_COMMENT.search(value):
            raise ValueError(
                "inline comment: '#' and ';' start a comment only at the start of a line "
                "(as in systemd's files); put the comment on its own line above"
            )
        if any(ord(c) < 0x20 and c != "\t" or ord(c) == 0x7F for c in value):
            raise ValueError(f"contains a control character: {_short(value)}")
        if value.lower() == "keep" and self.type == "int" and not self.keep:
            raise ValueError(f"not an integer: {value!r} (keep is not a value of this setting)")
        if self.type == "bool":
            return parse_bool(value)
        if self.type == "tristate":
            return parse_tristate(value)
        if self.type == "int":
            if value.lower() == "keep":
                return None
            body = value[1:] if value[:1] in ("+", "-") else value
            if not (body.isascii() and body.isdigit()):  # int() would take "١٢" and "1_000"
                raise ValueError(f"not an integer: {_short(value)}")
            if len(body.lstrip("0")) > MAX_INT_DIGITS:
                raise ValueError(f"number too large: {_short(value)}")
            number = int(value, 10)
            self._check_range(number)
            return number
        if self.type == "size":
            return parse_size(value)
        if self.type == "duration":
            seconds = parse_duration(value)
            self._check_range(seconds)
            return seconds
        if self.type == "enum":
            if value not in self.choices:
                raise ValueError(f"unknown value {value!r}; allowed: {', '.join(self.choices)}")
            return value
        if self.type == "list":
            return parse_list(value)
        if self.type == "levels":
            levels = tuple(v for v in re.split(r"[,\s]+", value) if v)
            if not levels:
                raise ValueError("empty list of dump levels")
            out = []
            for lv in levels:
                if not (lv.isascii() and lv.isdigit()) or len(lv) > 3:
                    raise ValueError(f"not a dump level: {lv!r} (0-31)")
                self._check_range(int(lv))
                out.append(int(lv))
            return tuple(out)
        if self.type == "str":
            return value
        if self.type == "target":
            return parse_target(value)
        if self.type == "network":
            parse_network(value)  # crashd.core.capnet: auto, none, IFACE, IFACE ADDRESS/PREFIX [GATEWAY]
            return " ".join(value.split())
        raise AssertionError(f"unknown setting type {self.type}")

    def _check_range(self, number: int) -> None:
        if self.minimum is not None and number < self.minimum:
            raise ValueError(f"{number} is below the minimum {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"{number} is above the maximum {self.maximum}")


ACTIONS = ("reboot", "poweroff", "halt", "shell")

SETTINGS: tuple[Setting, ...] = (
    # [arm]
    Setting("arm", "enabled", "bool", "yes", "Arm the capture kernel when the machine is ready."),
    Setting("arm", "kernel", "str", "auto", "Capture kernel image; auto = the running release's image in /boot."),
    Setting("arm", "initrd", "str", "auto", "Capture initrd; auto = the running release's initrd in /boot; none = no initrd."),
    Setting("arm", "dtb", "str", "auto", "Device tree (32-bit ARM); auto = /sys/firmware/fdt; none = do not pass one."),
    Setting(
        "arm",
        "cmdline_remove",
        "list",
        "crashkernel quiet splash hugepages hugepagesz hugetlb_cma cma log_buf_len slub_debug",
        "Parameters of /proc/cmdline left out of the capture command line.",
    ),
    Setting(
        "arm",
        "cmdline_append",
        "list",
        "nr_cpus=1 reset_devices irqpoll udev.children-max=2 panic=10 cma=0 cgroup_disable=memory "
        "transparent_hugepage=never",
        "Parameters added to the capture command line. cma=0: no CMA area in the capture kernel (Debian's "
        "armmp kernel reserves 16 MiB, arm64 64 MiB); cgroup_disable=memory, transparent_hugepage=never: "
        "less memory for the capture userspace.",
    ),
    Setting("arm", "kexec_file_load", "enum", "auto", "Use kexec_file_load (kexec -s): auto = whenever the kernel has it (CONFIG_KEXEC_FILE) and always under lockdown or Secure Boot; no = the older kexec_load.", choices=("auto", "yes", "no")),
    Setting("arm", "image_size", "size", "0", "32-bit ARM: room for the zImage to decompress itself (kexec --image-size); 0 = 48M for zImage, unused otherwise."),
    Setting("arm", "unload_on_stop", "bool", "no", "Unload the capture kernel when crashd.service stops."),
    Setting("arm", "settle", "duration", "2s", "Quiet time after a change (hotplug, new kernel) before re-arming."),
    # [panic]
    Setting("panic", "on_oops", "tristate", "yes", "kernel.panic_on_oops: an oops panics (and so is captured); keep = leave as is."),
    Setting("panic", "on_warn", "tristate", "keep", "kernel.panic_on_warn: a WARNING panics."),
    Setting("panic", "softlockup", "tristate", "keep", "kernel.softlockup_panic."),
    Setting("panic", "hardlockup", "tristate", "keep", "kernel.hardlockup_panic."),
    Setting("panic", "hung_task", "tristate", "keep", "kernel.hung_task_panic."),
    Setting("panic", "timeout", "int", "keep", "kernel.panic: seconds before reboot after a panic when no capture kernel runs (0 = wait forever, -1 = at once); keep = leave as is.", minimum=-1, maximum=86400, keep=True),
    # [capture]
    Setting("capture", "target", "target", "/var/crash", "Where the capture kernel saves dumps: a directory on the root file system, or UUID=…, LABEL=… or /dev/… to mount."),
    Setting("capture", "mount_options", "str", "", "Mount options for a device target (comma-separated)."),
    Setting("capture", "collector", "enum", "auto", "auto = makedumpfile when installed, else copy.", choices=("auto", "makedumpfile", "copy")),
    Setting("capture", "dump_level", "levels", "31", "makedumpfile -d levels, tried in order on ENOSPC (e.g. 1,31).", minimum=0, maximum=31),
    Setting("capture", "compression", "enum", "auto", "Page compression for makedumpfile; auto = zstd, lzo or zlib as supported.", choices=("auto", "none", "zlib", "lzo", "snappy", "zstd")),
    Setting("capture", "final_action", "enum", "reboot", "What the capture kernel does after a successful save.", choices=ACTIONS),
    Setting("capture", "failure_action", "enum", "reboot", "What the capture kernel does when the save fails.", choices=ACTIONS),
    Setting("capture", "min_free", "size", "64M", "Free space to leave on the target; the dump falls back to dmesg only rather than eat it."),
    Setting("capture", "stall_timeout", "duration", "30s", "A collector that moves no bytes for this long is killed and the next step of the fallback chain runs.", minimum=1, maximum=3600),
    Setting("capture", "network", "network", "auto", "A remote (ssh://, nfs://) target only: the network the capture kernel brings up; auto = the interface the target is reached through, configured as the running system does (systemd-networkd, ifupdown, else its current address); none = none; IFACE; or IFACE ADDRESS/PREFIX [GATEWAY]."),
    Setting("capture", "network_timeout", "duration", "60s", "A remote target only: how long the capture kernel waits for that network before the dump goes to the local target.", minimum=1, maximum=3600),
    Setting("capture", "max_seconds", "duration", "0", "Bound on the whole save, after which only what is saved is kept and the final action runs; 0 = 10 min plus 1 min per GiB of the dump.", minimum=0),
    # [ingest]
    Setting("ingest", "pstore", "bool", "yes", "Ingest records from /sys/fs/pstore (and systemd-pstore's archive)."),
    Setting("ingest", "unlink_pstore", "bool", "yes", "Remove pstore entries once their copies are safely on disk (frees the backend)."),
    # [retention]
    Setting("retention", "max_records", "int", "50", "Keep at most this many crash records (0 = no limit).", minimum=0),
    Setting("retention", "max_size", "size", "0", "Keep records under this total size (0 = no limit)."),
    Setting("retention", "max_age", "duration", "0", "Remove records older than this (0 = never), e.g. 90d."),
    Setting("retention", "min_free", "size", "0", "Prune old records while the store's file system has less free space than this."),
    # [analyze]
    Setting("analyze", "on_ingest", "enum", "auto", "Analyse each new dump with drgn after its record is written (analysis.json, analysis.txt); auto = when the kernel's debug info is found locally; yes = also ask debuginfod ($DEBUGINFOD_URLS; crashd-ingest.service has no network unless a drop-in gives it).", choices=("auto", "yes", "no")),
    Setting("analyze", "debuginfo_dirs", "list", "", "More directories searched for debug info before /usr/lib/debug (same layout: .build-id/, boot/vmlinux-RELEASE, lib/modules/RELEASE/; or a flat vmlinux-RELEASE)."),
    Setting("analyze", "time_limit", "duration", "10m", "An analysis running longer is stopped (the record stays as it was).", minimum=1, maximum=86400),
    Setting("analyze", "memory_max", "size", "4G", "Address-space cap of the analysis process (RLIMIT_AS); 0 = no cap."),
)


def setting(section: str, key: str) -> Setting:
    for s in SETTINGS:
        if (s.section, s.key) == (section, key):
            return s
    raise KeyError((section, key))


def sections() -> list[str]:
    seen: list[str] = []
    for s in SETTINGS:
        if s.section not in seen:
            seen.append(s.section)
    return seen


@dataclass(frozen=True)
class ArmConfig:
    enabled: bool
    kernel: str
    initrd: str
    dtb: str
    cmdline_remove: tuple[str, ...]
    cmdline_append: tuple[str, ...]
    kexec_file_load: str
    image_size: int
    unload_on_stop: bool
    settle: int


@dataclass(frozen=True)
class PanicConfig:
    on_oops: bool | None
    on_warn: bool | None
    softlockup: bool | None
    hardlockup: bool | None
    hung_task: bool | None
    timeout: int | None


@dataclass(frozen=True)
class CaptureConfig:
    target: str
    mount_options: str
    collector: str
    dump_level: tuple[int, ...]
    compression: str
    final_action: str
    failure_action: str
    min_free: int
    stall_timeout: int
    max_seconds: int
    network: str = "auto"
    network_timeout: int = 60


@dataclass(frozen=True)
class IngestConfig:
    pstore: bool
    unlink_pstore: bool


@dataclass(frozen=True)
class RetentionConfig:
    max_records: int
    max_size: int
    max_age: int
    min_free: int


@dataclass(frozen=True)
class AnalyzeConfig:
    on_ingest: str
    debuginfo_dirs: tuple[str, ...]
    time_limit: int
    memory_max: int


SECTION_TYPES: dict[str, Callable[..., Any]] = {
    "arm": ArmConfig,
    "panic": PanicConfig,
    "capture": CaptureConfig,
    "ingest": IngestConfig,
    "retention": RetentionConfig,
    "analyze": AnalyzeConfig,
}


@dataclass(frozen=True)
class Config:
    """The effective configuration; ``origins`` says where each value came from."""

    arm: ArmConfig
    panic: PanicConfig
    capture: CaptureConfig
    ingest: IngestConfig
    retention: RetentionConfig
    analyze: AnalyzeConfig
    origins: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)
