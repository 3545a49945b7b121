"""Can this machine take a crash dump? Named checks with evidence and a fix.

Each check reads only host files (under the injectable root) and the tool seam.
States: ``ok``, ``missing`` (something a person must fix) and ``unknown`` (we
could not tell — never guessed). Reason codes are stable: scripts and
``crashd status --json`` users may match on them.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from crashd.arm.bootfiles import BootFiles, find_boot_files, machine_arch, running_release
from crashd.arm.dumpsize import system_ram
from crashd.arm.estimate import ReservationEstimate, estimate_reservation
from crashd.arm.kallsyms_shim import text_address
from crashd.arm.kernelconfig import read_kernel_config
from crashd.core.cmdline import param
from crashd.core.errors import CrashdError
from crashd.core.fsutil import read_value
from crashd.core.paths import HostPaths
from crashd.core.remote import is_remote
from crashd.core.settings import Config, setting
from crashd.core.target import is_device
from crashd.core.tools import ToolRunner

__all__ = [
    "ARMING_CHECKS",
    "Check",
    "DEGRADED_CHECKS",
    "EFI_GLOBAL",
    "PANIC_SYSCTLS",
    "RESERVATION_HINT",
    "Readiness",
    "assess",
    "check_armed",
    "check_capture_memory",
    "check_capture_files",
    "check_capture_remote",
    "check_capture_target",
    "estimate_dump_bytes",
    "check_crashkernel",
    "check_kernel_support",
    "check_kexec_allowed",
    "check_kexec_mode",
    "check_kexec_tool",
    "check_panic_policy",
    "check_pstore",
    "cmdline_param",
    "crash_kernel_range",
]

OK, MISSING, UNKNOWN = "ok", "missing", "unknown"

EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
RESERVATION_HINT = (
    "add crashkernel=256M to the kernel command line (e.g. GRUB_CMDLINE_LINUX_DEFAULT in "
    "/etc/default/grub, then update-grub) and reboot"
)
PANIC_SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.panic_on_warn",
    "kernel.softlockup_panic",
    "kernel.hardlockup_panic",
    "kernel.hung_task_panic",
)
# Checks whose "missing" state prevents arming.
ARMING_CHECKS = ("kernel_support", "crashkernel", "kexec_tool", "kexec_allowed", "kexec_mode", "capture_files")
# Checks whose "missing" state does not prevent arming but makes a capture expected to
# fail: armed, the machine reports "armed, but <title>: <hint>" (crashd status exit 4,
# STATUS=, the journal). Other checks of this kind (e.g. the capture target) join this list.
DEGRADED_CHECKS = ("capture_memory", "capture_target", "capture_remote")


@dataclass(frozen=True)
class Check:
    """One readiness check: what was read and what to do about it."""

    name: str
    state: str
    reason: str
    evidence: dict[str, object]
    hint: str = ""
    title: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "state": self.state, "reason": self.reason, "evidence": self.evidence,
                "hint": self.hint, "title": self.title}


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]
    armed: bool
    ready: bool
    file_load_required: bool
    boot_files: BootFiles
    reserved_bytes: int = 0
    extra: dict[str, object] = field(default_factory=dict)
    file_load_supported: bool | None = None  # CONFIG_KEXEC_FILE; None when the config is unknown
    # A remote target's network for the capture boot (crashd.core.capnet): command-line parameters.
    capture_network: tuple[str, ...] = ()

    @property
    def auto_file_load(self) -> bool:
        """What ``[arm] kexec_file_load = auto`` picks: kexec_file_load when lockdown or Secure
        Boot requires it, and whenever the kernel has it (as kdumpctl does). The kernel then
        parses the image itself; kexec_load instead has kexec-tools read /proc/kcore,
        /proc/kallsyms and /proc/iomem, which fails in a sandbox or with a restricted kptr."""
        return self.file_load_required or self.file_load_supported is True

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def blocking(self) -> list[Check]:
        """The checks that prevent arming, in the order they are listed."""
        return [c for c in self.checks if c.name in ARMING_CHECKS and c.state == MISSING]

    def degraded(self) -> list[Check]:
        """The checks that make a capture expected to fail although arming works."""
        return [c for c in self.checks if c.name in DEGRADED_CHECKS and c.state == MISSING]

    def degraded_text(self) -> str:
        """``armed, but …`` for the first degraded check; empty when none."""
        bad = self.degraded()
        if not bad:
            return ""
        first = bad[0]
        return f"armed, but {first.title}" + (f" — {first.hint}" if first.hint else "")

    def summary(self) -> str:
        """One line for ``STATUS=`` and the top of ``crashd status``."""
        if self.armed:
            return self.degraded_text() or f"armed: {self.boot_files.release}, {self.reserved_bytes >> 20} MiB reserved"
        blocking = self.blocking()
        if blocking:
            first = blocking[0]
            return f"not armed: {first.title or first.reason} — {first.hint}" if first.hint else f"not armed: {first.title}"
        return "not armed: ready to arm (start crashd.service or run 'crashd arm')"


_read = read_value


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def cmdline_param(cmdline: str, key: str) -> str | None:
    """The value of ``key=`` on a kernel command line (last one wins), or None."""
    return param(cmdline, key)


def crash_kernel_range(iomem: str) -> tuple[int, int] | None:
    """The ``Crash kernel`` range of ``/proc/iomem`` (first one), inclusive."""
    for line in iomem.splitlines():
        rng, _, name = line.strip().partition(" : ")
        if name.strip() == "Crash kernel":
            start, _, end = rng.partition("-")
            try:
                return int(start, 16), int(end, 16)
            except ValueError:
                return None
    return None


def check_kernel_support(paths: HostPaths, release: str) -> Check:
    title = "kernel support for kexec and crash dumps"
    kc = read_kernel_config(paths, release)
    if kc is None:
        return Check("kernel_support", UNKNOWN, "kernel_config_unavailable",
                     {"looked_in": [paths.unhost(paths.proc("config.gz")), paths.unhost(paths.boot(f"config-{release}"))]},
                     "install the kernel's config file in /boot (or enable CONFIG_IKCONFIG_PROC) to check", title)
    wanted = {"KEXEC": kc.enabled("KEXEC"), "KEXEC_FILE": kc.enabled("KEXEC_FILE"),
              "CRASH_DUMP": kc.enabled("CRASH_DUMP"), "PROC_VMCORE": kc.enabled("PROC_VMCORE"),
              "RELOCATABLE": kc.enabled("RELOCATABLE")}
    evidence: dict[str, object] = {"source": paths.unhost(kc.source), **{f"CONFIG_{k}": v for k, v in wanted.items()}}
    missing = [k for k in ("CRASH_DUMP", "PROC_VMCORE") if not wanted[k]]
    if not (wanted["KEXEC"] or wanted["KEXEC_FILE"]):
        missing.insert(0, "KEXEC or KEXEC_FILE")
    if machine_arch() in ("x86_64", "i686", "i386") and not wanted["RELOCATABLE"]:
        missing.append("RELOCATABLE")
    if missing:
        evidence["missing"] = missing
        return Check("kernel_support", MISSING, "kernel_lacks_options", evidence,
                     f"this kernel was built without {', '.join('CONFIG_' + m for m in missing)}; "
                     "boot a kernel with kexec and crash-dump support", "kernel lacks kexec/crash-dump support")
    return Check("kernel_support", OK, "supported", evidence, "", title)


def check_crashkernel(paths: HostPaths, hint: str = RESERVATION_HINT) -> tuple[Check, int]:
    title = "crashkernel memory reservation"
    size = _int(paths.kexec_crash_size)
    iomem = _read(paths.iomem) or ""
    rng = crash_kernel_range(iomem)
    param = cmdline_param(_read(paths.cmdline) or "", "crashkernel")
    evidence: dict[str, object] = {"kexec_crash_size": size, "cmdline_crashkernel": param,
                                   "iomem_range": f"{rng[0]:08x}-{rng[1]:08x}" if rng else None}
    if size is None and rng is not None and rng[1] > rng[0]:
        size = rng[1] - rng[0] + 1
    if size:
        return Check("crashkernel", OK, "reserved", evidence, "", title), size
    if param:
        return Check("crashkernel", MISSING, "reservation_failed", evidence,
                     f"crashkernel={param} is on the command line but nothing was reserved "
                     "(see 'journalctl -k | grep -i crashkernel'); try a smaller size or one that fits the memory map",
                     title), 0
    return Check("crashkernel", MISSING, "no_reservation", evidence, hint,
                 "no crashkernel reservation"), 0


def check_kexec_tool(tools: ToolRunner) -> Check:
    exe = tools.which("kexec")
    if exe:
        return Check("kexec_tool", OK, "found", {"path": exe}, "", "kexec tool")
    return Check("kexec_tool", MISSING, "kexec_tools_missing", {"path": None},
                 "install kexec-tools (apt install kexec-tools / dnf install kexec-tools)", "kexec tool not found")


def check_kexec_allowed(paths: HostPaths) -> Check:
    title = "kexec loading allowed"
    disabled = _int(paths.sysctl("kernel.kexec_load_disabled"))
    limit = _int(paths.sysctl("kernel.kexec_load_limit_panic"))
    evidence: dict[str, object] = {"kexec_load_disabled": disabled, "kexec_load_limit_panic": limit}
    if disabled == 1:
        return Check("kexec_allowed", MISSING, "kexec_load_disabled", evidence,
                     "kernel.kexec_load_disabled=1 cannot be undone until reboot; remove it from sysctl.d and reboot",
                     "kexec loading is disabled")
    if limit == 0:
        return Check("kexec_allowed", MISSING, "kexec_load_limit_reached", evidence,
                     "kernel.kexec_load_limit_panic is 0: no more crash kernel loads this boot; reboot",
                     "kexec load limit reached")
    if disabled is None:
        return Check("kexec_allowed", UNKNOWN, "sysctl_unreadable", evidence, "", title)
    return Check("kexec_allowed", OK, "allowed", evidence, "", title)


def _efi_var(paths: HostPaths, name: str) -> int | None:
    try:
        data = paths.sys("firmware", "efi", "efivars", f"{name}-{EFI_GLOBAL}").read_bytes()
    except OSError:
        return None
    return data[4] if len(data) >= 5 else None


def check_kexec_mode(paths: HostPaths, config: Config, kernel_has_file_load: bool | None) -> tuple[Check, bool]:
    """Lockdown or Secure Boot → only signed kernels through ``kexec_file_load`` (``kexec -s``)."""
    title = "kexec system call"
    lockdown_text = _read(paths.sys("kernel", "security", "lockdown"))
    lockdown = None
    if lockdown_text:
        m = re.search(r"\[(\w+)\]", lockdown_text)
        lockdown = m.group(1) if m else None
    secure_boot, setup_mode = _efi_var(paths, "SecureBoot"), _efi_var(paths, "SetupMode")
    required = (lockdown not in (None, "none")) or (secure_boot == 1 and setup_mode != 1)
    evidence: dict[str, object] = {"lockdown": lockdown, "secure_boot": secure_boot, "setup_mode": setup_mode,
                                   "configured": config.arm.kexec_file_load}
    if required and config.arm.kexec_file_load == "no":
        return Check("kexec_mode", MISSING, "file_load_required_but_disabled", evidence,
                     "lockdown/Secure Boot allows only kexec_file_load: set [arm] kexec_file_load = auto", title), required
    if (required or config.arm.kexec_file_load == "yes") and kernel_has_file_load is False:
        return Check("kexec_mode", MISSING, "file_load_unsupported", evidence,
                     "kexec_file_load is needed but the kernel lacks CONFIG_KEXEC_FILE", title), required
    if required:
        reason = "kexec_file_load_required"
    elif config.arm.kexec_file_load == "yes":
        reason = "kexec_file_load_configured"
    elif config.arm.kexec_file_load == "no":
        reason = "kexec_load_configured"
    elif kernel_has_file_load:
        reason = "kexec_file_load_preferred"
    else:
        reason = "kexec_load_allowed"
    return Check("kexec_mode", OK, reason, evidence, "", title), required


def check_capture_files(paths: HostPaths, boot: BootFiles, config: Config) -> Check:
    title = "capture kernel and initrd"
    evidence: dict[str, object] = {
        "release": boot.release,
        "kernel": paths.unhost(boot.kernel) if boot.kernel else None,
        "kernel_kind": boot.kernel_kind,
        "initrd": paths.unhost(boot.initrd) if boot.initrd else None,
        "dtb": paths.unhost(boot.dtb) if boot.dtb else None,
    }
    if boot.kernel is None or not boot.kernel.is_file():
        return Check("capture_files", MISSING, "no_capture_kernel", evidence,
                     f"no kernel image for {boot.release} in /boot; install the kernel package or set [arm] kernel",
                     "no capture kernel image")
    if config.arm.initrd != "none" and (boot.initrd is None or not boot.initrd.is_file()):
        return Check("capture_files", MISSING, "no_capture_initrd", evidence,
                     f"no initrd for {boot.release} in /boot; run update-initramfs -c -k {boot.release} "
                     "or set [arm] initrd (none if the kernel needs none)", "no capture initrd")
    if machine_arch() == "aarch64":
        kallsyms = _read(paths.proc("kallsyms"))
        if kallsyms is not None and (derived := text_address(kallsyms)) is not None:
            # Debian 12's arm64 kernel: kexec_load runs with a private kallsyms (kallsyms_shim)
            evidence["kallsyms_text_derived"] = f"{derived:#x}"
            return Check("capture_files", OK, "kallsyms_text_derived", evidence, "", title)
        if kallsyms is not None and not re.search(r"\s[tT] _text$", kallsyms, re.MULTILINE):
            return Check("capture_files", MISSING, "kallsyms_no_text", evidence,
                         "/proc/kallsyms does not list _text: kexec-tools would load a capture kernel that writes "
                         "a garbage dump; check kernel.kptr_restrict and CONFIG_KALLSYMS_ALL", "_text not in kallsyms")
    return Check("capture_files", OK, "found", evidence, "", title)


def check_capture_memory(estimate: ReservationEstimate) -> Check:
    """The capture kernel's estimated need against the reservation (crashd.arm.estimate)."""
    evidence: dict[str, object] = {"needed_mib": -(-estimate.needed >> 20), "reserved_mib": estimate.reserved >> 20,
                                   **{f"{p.name}_mib": -(-p.bytes >> 20) for p in estimate.parts}}
    title = "capture kernel memory"
    if estimate.fits is None:
        return Check("capture_memory", UNKNOWN, "no_reservation", evidence,
                     f"reserve crashkernel={estimate.suggested}", title)
    if not estimate.fits:
        return Check("capture_memory", MISSING, "reservation_too_small", evidence,
                     f"set crashkernel={estimate.suggested} (see 'crashd estimate')",
                     f"the capture kernel will likely run out of memory: {estimate.line()}")
    return Check("capture_memory", OK, "fits", evidence, "", title)


def reservation_hint(size: str) -> str:
    return (f"add crashkernel={size} to the kernel command line (e.g. GRUB_CMDLINE_LINUX_DEFAULT in "
            "/etc/default/grub, then update-grub) and reboot; 'crashd estimate' shows how that size was found")


# makedumpfile -d bits and the share of System RAM each page class typically takes on
# a running server (free memory is the largest; zero pages are few). A stated, coarse
# approximation: 'crashd estimate' (makedumpfile --mem-usage) measures instead.
_EXCLUDED_SHARE = {1: 0.03, 2: 0.10, 4: 0.10, 8: 0.20, 16: 0.50}
_COMPRESSED_SHARE = 0.5  # makedumpfile's zlib/lzo/zstd shrink kept pages at least 2x on the reference dumps
_TAG_DIRS = {"UUID=": "by-uuid", "LABEL=": "by-label", "PARTUUID=": "by-partuuid", "PARTLABEL=": "by-partlabel"}


def estimate_dump_bytes(paths: HostPaths, config: Config) -> tuple[int, str]:
    """(bytes, how) of the smallest dump the configured level chain can write.

    The capture tries the levels in order and falls back on ENOSPC, so the last
    resort is the most excluding level. The one place the dump size is guessed."""
    ram = system_ram(paths)
    levels = (0,) if config.capture.collector == "copy" else config.capture.dump_level
    kept = min(ram * max(0.0, 1.0 - sum(share for bit, share in _EXCLUDED_SHARE.items() if level & bit))
               for level in levels)
    compressed = config.capture.collector != "copy" and config.capture.compression != "none"
    size = int(kept * (_COMPRESSED_SHARE if compressed else 1.0))
    how = (f"approximation: System RAM in /proc/iomem ({ram >> 20} MiB) less the typical share of the pages "
           f"dump level {max(levels, key=lambda lv: bin(lv).count('1'))} excludes"
           + (", halved for compression" if compressed else ""))
    return size, how


def _udev_escape(value: str) -> str:
    """How udev names a tag in /dev/disk/by-*: unsafe bytes as ``\\xNN``."""
    return "".join(c if c.isalnum() or c in "#+-.:=@_" else "".join(f"\\x{b:02x}" for b in c.encode())
                   for c in value)


def _device_target(paths: HostPaths, tools: ToolRunner, value: str, title: str) -> Check:
    evidence: dict[str, object] = {"target": value}
    hint = f"fix [capture] target (now {value}) or create that file system; 'blkid' lists them"
    tag = next((t for t in _TAG_DIRS if value.startswith(t)), None)
    if tag is None:  # /dev/…
        node = paths.host(value)
        try:
            mode = os.stat(node).st_mode
        except OSError:
            return Check("capture_target", MISSING, "target_device_missing", evidence, hint,
                         f"the dump cannot be saved: {value} does not exist")
        evidence["device"] = value
        if not stat.S_ISBLK(mode) and paths.root == Path("/"):
            return Check("capture_target", MISSING, "target_not_block_device", evidence, hint,
                         f"the dump cannot be saved: {value} is not a block device")
        return Check("capture_target", OK, "device_found", evidence, "", title)
    links = paths.dev("disk", _TAG_DIRS[tag])
    link = links / _udev_escape(value[len(tag):])
    evidence["looked_in"] = paths.unhost(links)
    if link.exists():
        evidence["device"] = paths.unhost(link.resolve())
        return Check("capture_target", OK, "device_found", evidence, "", title)
    if paths.dev("disk").is_dir():  # udev runs: its links are the truth
        return Check("capture_target", MISSING, "target_device_missing", evidence, hint,
                     f"the dump cannot be saved: no device has {value}")
    if paths.root == Path("/") and tools.which("blkid"):  # no udev (a container): ask blkid
        try:
            result = tools.run(["blkid", "-l", "-o", "device", "-t", value], timeout=10)
        except CrashdError:
            result = None
        if result is not None and result.ok and result.stdout.strip():
            evidence["device"] = result.stdout.strip()
            return Check("capture_target", OK, "device_found", evidence, "", title)
        if result is not None and result.returncode == 2:  # blkid: no such token
            return Check("capture_target", MISSING, "target_device_missing", evidence, hint,
                         f"the dump cannot be saved: no device has {value}")
    return Check("capture_target", UNKNOWN, "device_unverifiable", evidence,
                 f"neither /dev/disk/{_TAG_DIRS[tag]} nor blkid could tell whether {value} exists", title)


def _mount_super_read_only(paths: HostPaths, where: str) -> bool | None:
    """Whether the file system holding ``where`` is itself mounted read-only.

    crashd.service runs with ``ProtectSystem=strict``: in its namespace every mount is
    read-only, so ``access(W_OK)`` says "no" although the capture kernel, which runs
    outside that sandbox, writes there fine. mountinfo keeps the two apart: the
    per-mount options are the sandbox's, the super options (after ``-``) the file
    system's own. None when mountinfo cannot be read (a fake root, no /proc).
    """
    text = read_value(paths.proc("self", "mountinfo"))
    if not text:
        return None
    best: tuple[int, bool] | None = None
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 6:
            continue
        point = fields[4].replace("\\040", " ")
        sep = fields.index("-")
        if len(fields) < sep + 4:
            continue
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = (len(point), "ro" in fields[sep + 3].split(","))
    return None if best is None else best[1]


def _writable(paths: HostPaths, probe: Path) -> bool:
    """Can the capture (root, outside crashd.service's sandbox) write in ``probe``?"""
    read_only = _mount_super_read_only(paths, paths.unhost(probe))
    if read_only:
        return False
    if read_only is not None and os.geteuid() == 0:
        return True  # root writes whatever the mode bits; the sandbox's read-only view is not the capture's
    return os.access(probe, os.W_OK | os.X_OK)


def check_capture_target(paths: HostPaths, tools: ToolRunner, config: Config) -> Check:
    """The capture can write where ``[capture] target`` points: the device exists, or
    the directory exists (or can be made under its parent), is writable, and has room
    for the estimated dump beyond ``min_free``."""
    title = "capture target"
    value = config.capture.target
    if is_remote(value):  # the server: capture_remote; here the local directory that keeps dmesg and the fallback
        value = setting("capture", "target").default
        title = f"local directory for the kernel log and the fallback ({value})"
    if is_device(value):
        return _device_target(paths, tools, value, title)
    hint = f"create {value} (mkdir -p -m 0700) or fix [capture] target"
    path = paths.host(value)
    evidence: dict[str, object] = {"target": value}
    if path.is_dir():
        reason, probe = "directory", path
    elif path.exists() or path.is_symlink():
        return Check("capture_target", MISSING, "target_not_directory", evidence, hint,
                     f"the dump cannot be saved: {value} is not a directory")
    elif path.parent.is_dir():
        reason, probe = "directory_creatable", path.parent  # the capture makes one level (core.target)
    else:
        return Check("capture_target", MISSING, "target_directory_missing", evidence, hint,
                     f"the dump cannot be saved: {value} does not exist, nor its parent")
    if not _writable(paths, probe):
        return Check("capture_target", MISSING, "target_not_writable", evidence,
                     f"make {paths.unhost(probe)} writable for root (read-only file system?)",
                     f"the dump cannot be saved: {paths.unhost(probe)} is not writable")
    try:
        st = os.statvfs(probe)
    except OSError:
        return Check("capture_target", OK, reason, evidence, "", title)
    free = st.f_bavail * st.f_frsize
    need, how = estimate_dump_bytes(paths, config)
    evidence.update(free_bytes=free, min_free=config.capture.min_free, estimated_dump_bytes=need, estimate=how)
    if free - config.capture.min_free < need:
        return Check("capture_target", MISSING, "target_too_small", evidence,
                     f"free space on {value}, or lower [capture] min_free / raise dump_level",
                     f"the dump cannot be saved: {value} has {free >> 20} MiB free, less min_free "
                     f"{config.capture.min_free >> 20} MiB leaves less than the ~{need >> 20} MiB estimated")
    return Check("capture_target", OK, reason, evidence, "", title)


def check_capture_remote(paths: HostPaths, tools: ToolRunner, config: Config) -> tuple[Check, tuple[str, ...]]:
    """A remote target that cannot work (crashd.arm.netplan), and the capture boot's network."""
    from crashd.arm.netplan import assess_remote

    r = assess_remote(paths, tools, config)
    return Check("capture_remote", r.state, r.reason, r.evidence, r.hint, r.title), r.cmdline


def check_armed(paths: HostPaths) -> Check:
    loaded = _int(paths.kexec_crash_loaded)
    evidence: dict[str, object] = {"kexec_crash_loaded": loaded}
    if loaded == 1:
        return Check("armed", OK, "loaded", evidence, "", "capture kernel loaded")
    if loaded is None:
        return Check("armed", UNKNOWN, "no_kexec_sysfs", evidence,
                     "/sys/kernel/kexec_crash_loaded is missing: the kernel has no kexec support", "capture kernel state")
    return Check("armed", MISSING, "not_loaded", evidence,
                 "systemctl enable --now crashd (or run 'crashd arm')", "capture kernel not loaded")


def check_pstore(paths: HostPaths) -> Check:
    backend = _read(paths.sys("module", "pstore", "parameters", "backend"))
    if backend in ("(null)", ""):
        backend = None
    mounts = _read(paths.mounts) or ""
    pstore_dir = paths.unhost(paths.pstore)
    mounted = any(line.split()[1:3] == [pstore_dir, "pstore"] for line in mounts.splitlines() if len(line.split()) > 2)
    try:
        records = sorted(p.name for p in paths.pstore.iterdir())
    except OSError:
        records = []
    evidence: dict[str, object] = {"backend": backend, "mounted": mounted, "records_waiting": len(records)}
    title = "pstore (panic log in persistent memory)"
    if backend is None:
        return Check("pstore", MISSING, "no_pstore_backend", evidence,
                     "optional: on UEFI load efi_pstore; elsewhere reserve RAM and load ramoops "
                     "(mem_address=, mem_size=) to keep the panic log across a warm reset", title)
    if not mounted:
        return Check("pstore", MISSING, "pstore_not_mounted", evidence,
                     "mount -t pstore pstore /sys/fs/pstore (systemd does this at boot)", title)
    return Check("pstore", OK, "active", evidence, "", title)


def check_panic_policy(paths: HostPaths, config: Config) -> Check:
    values = {name: _int(paths.sysctl(name)) for name in PANIC_SYSCTLS}
    notifiers = _read(paths.sys("module", "kernel", "parameters", "crash_kexec_post_notifiers"))
    evidence: dict[str, object] = {**values, "crash_kexec_post_notifiers": notifiers}
    title = "panic policy"
    if all(v is None for v in values.values()):
        return Check("panic_policy", UNKNOWN, "sysctl_unreadable", evidence, "", title)
    wanted = {"kernel.panic_on_oops": config.panic.on_oops, "kernel.panic_on_warn": config.panic.on_warn,
              "kernel.softlockup_panic": config.panic.softlockup, "kernel.hardlockup_panic": config.panic.hardlockup,
              "kernel.hung_task_panic": config.panic.hung_task}
    differ = [k for k, want in wanted.items() if want is not None and values[k] is not None and bool(values[k]) != want]
    if config.panic.timeout is not None and values["kernel.panic"] not in (None, config.panic.timeout):
        differ.append("kernel.panic")
    if differ:
        evidence["differs_from_config"] = differ
        return Check("panic_policy", MISSING, "policy_not_applied", evidence,
                     "crashd.service applies [panic] when it runs: systemctl start crashd", title)
    return Check("panic_policy", OK, "as_configured", evidence, "", title)


def assess(paths: HostPaths, tools: ToolRunner, config: Config) -> Readiness:
    """Run every check; cheap enough to repeat on each event."""
    release = running_release(paths)
    boot = find_boot_files(paths, config.arm, release)
    support = check_kernel_support(paths, release)
    file_load_cfg = support.evidence.get("CONFIG_KEXEC_FILE") if support.state != UNKNOWN else None
    file_load_supported = file_load_cfg if isinstance(file_load_cfg, bool) else None
    _, reserved = check_crashkernel(paths)
    estimate = estimate_reservation(paths, config, boot, reserved)
    crash, _ = check_crashkernel(paths, reservation_hint(estimate.suggested))
    mode, required = check_kexec_mode(paths, config, file_load_supported)
    armed = check_armed(paths)
    checks = [
        support,
        crash,
        check_kexec_tool(tools),
        check_kexec_allowed(paths),
        mode,
        check_capture_files(paths, boot, config),
        check_capture_memory(estimate),
        armed,
        check_pstore(paths),
        check_panic_policy(paths, config),
        check_capture_target(paths, tools, config),
    ]
    remote, network = check_capture_remote(paths, tools, config)
    checks.append(remote)
    ready = not any(c.name in ARMING_CHECKS and c.state == MISSING for c in checks)
    return Readiness(checks, armed.state == OK, ready, required, boot, reserved,
                     file_load_supported=file_load_supported, capture_network=network)
