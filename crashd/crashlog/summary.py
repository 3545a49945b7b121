"""What crashed, where: a summary of a kernel log's crash (formats.md §3.8).

Works on any kernel log text — vmcore-dmesg output (``[    1.2] msg``), pstore
bodies (``<6>[    1.437540] msg``) and plain dmesg — so the vmcore reader, the
pstore ingester and ``crashd inspect`` all describe a crash the same way, and
the same crash seen through pstore and through a vmcore gets the same
signature.

The pattern table is data (``TRIGGERS``): the exact strings vary by kernel
version and architecture (x86 ``__die_header`` gained its ``Oops: `` prefix in
2024), so each entry is covered by a test string instead of version checks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

__all__ = [
    "PanicInfo",
    "CrashSummary",
    "KINDS",
    "LogLine",
    "PANIC_MARK",
    "SIGNATURE_FRAMES",
    "TRIGGERS",
    "classify",
    "normalize_frame",
    "parse_lines",
    "read_trace",
    "signature",
    "summarize",
]

KINDS = ("panic", "oops", "bug", "warning", "lockup", "hung_task", "sysrq", "mce", "unknown")

# (kind, regex) in priority order: the first pattern that matches a line
# classifies it, so specific forms come before the generic ``BUG: ``.
TRIGGERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rx))
    for kind, rx in (
        ("sysrq", r"sysrq: Trigger a crash|SysRq : Trigger a crash|SysRq : Crash"),
        ("mce", r"\[Hardware Error\]: |Machine check|^mce: "),
        ("lockup", r"Watchdog detected hard LOCKUP on cpu|BUG: soft lockup - CPU#|rcu: INFO: rcu_\w+ detected stall"),
        ("hung_task", r"INFO: task .* blocked for more than"),
        (
            "oops",
            r"BUG: kernel NULL pointer dereference, address:|BUG: unable to handle page fault for address:"
            r"|BUG: unable to handle kernel |Unable to handle kernel NULL pointer dereference at virtual address"
            r"|Unable to handle kernel paging request at virtual address|Internal error: Oops\b"
            r"|^Oops: |^general protection fault|^invalid opcode: |^double fault: |^divide error: "
            r"|^stack segment: |^Bad mode in ",
        ),
        ("bug", r"kernel BUG at .*!|Kernel BUG at|BUG: KASAN: |BUG: scheduling while atomic|BUG: spinlock "),
        ("warning", r"^WARNING: (?:CPU: \d+ PID: \d+ at |at )"),
        ("bug", r"^BUG: "),
    )
)

PANIC_MARK = "Kernel panic - not syncing: "

# Panic reasons that name their own cause: the trigger is the latest line of
# that class before the panic, not the first one of the boot.
_REASON_KINDS = (
    ("sysrq triggered crash", "sysrq"),
    ("Hard LOCKUP", "lockup"),
    ("softlockup", "lockup"),
    ("hung_task", "hung_task"),
    ("machine check", "mce"),
    ("Machine check", "mce"),
    ("panic_on_warn", "warning"),
)

# printk prefixes: optional <L> syslog level, optional [ts], optional caller id [T123]/[C1].
_LINE = re.compile(r"^(?:<\d+>)?(?:\[\s*(?P<ts>\d+\.\d+)\]\s?)?(?:\[\s*[TC]\d+\]\s?)?(?P<text>.*)$")
_CPU_LINE = re.compile(
    r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.+?)"
    r"(?: Kdump: loaded)?(?: (?P<taint>Not tainted|Tainted: (?P<flags>[A-Z ]+?)))\s+(?P<release>\S+) #"
)
_PC_LINES = (
    # x86-64/32, new form: "RIP: 0010:sym+0x11/0x24 [mod]"; user-mode segments (0033, 0023) are not the crash PC
    re.compile(r"^[RE]IP: (?P<seg>[0-9a-f]{4}):(?P<pc>.+)$"),
    # x86 old form: "RIP: 0010:[<ffffffff8107a6f1>]  [<ffffffff8107a6f1>] sym+0x1/0x2"
    re.compile(r"^[RE]IP: \[<(?P<pc>[0-9a-f]+)>\]"),
    # arm64 "pc : sym+0x1c/0x30 [mod]", arm32 "PC is at sym+0x1c/0x30 [mod]"; in user mode both
    # print a bare address (arm32 "pc : [<b6f0c5a0>]    lr : …" too), which is not the crash PC
    re.compile(r"^pc : (?P<pc>[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[^\]]+\])?)$"),
    re.compile(r"^PC is at (?P<pc>[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[^\]]+\])?)$"),
)
_SYMBOL = re.compile(r"(?P<sym>[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+)(?P<mod> \[[^\]]+\])?")
_BARE_SYMBOL = re.compile(r"(?P<sym>[A-Za-z_.$][\w.$]*)(?P<mod> \[[^\]]+\])?")  # ARM's %ps: no offset
_FRAME = re.compile(
    r"^(?:\[<[0-9a-f]+>\]\s*)?(?P<q>\? )?(?P<frame>[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[[^\]]+\])?)\s*$"
)
_TRACE_START = re.compile(r"^(?:Call Trace:|Call trace:|Backtrace:)")
_ARM_SYM = r"[A-Za-z_.$][\w.$]*(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[^\]]+\])?"
# 32-bit ARM unwinder, one line per frame "WHERE from CALLER+off/size" (arch/arm/kernel/traps.c
# dump_backtrace_entry): 5.x+ prints " %ps from %pS"; CONFIG_BACKTRACE_VERBOSE and older kernels
# "[<addr>] (%ps) from [<addr>] (%pS)"; without kallsyms "Function entered at [<addr>] from [<addr>]".
_ARM_FRAMES = (
    re.compile(rf"^(?P<where>{_ARM_SYM}) from (?P<caller>{_ARM_SYM})$"),
    re.compile(rf"^\[<[0-9a-f]+>\] \((?P<where>{_ARM_SYM})\) from \[<[0-9a-f]+>\] \((?P<caller>{_ARM_SYM})\)$"),
    re.compile(r"^Function entered at \[<(?P<where>[0-9a-f]+)>\] from \[<(?P<caller>[0-9a-f]+)>\]$"),
)
# Lines an ARM backtrace interleaves with its frames: an exception frame's register dump.
_ARM_TRACE_NOISE = re.compile(r"^(?:Exception stack\(0x[0-9a-f]+ to 0x[0-9a-f]+\)|[0-9a-f]{4}:(?:\s+[0-9a-f]{8})+)$")
_TRACE_MARKERS = re.compile(r"^</?(?:TASK|IRQ|NMI|SOFTIRQ|#DF|EOE|DB|MCE|VC|ENTRY_TRAMPOLINE)>$")

# Frames every crash of a kind shares (the reporting machinery, not the crash
# site); leaving them out of the signature keeps distinct crashes apart.
_MACHINERY = re.compile(
    r"^(?:dump_stack\w*|show_stack|sched_show_task|panic|__warn\w*|warn_slowpath\w*|report_bug|handle_bug|"
    r"die|__die\w*|oops_\w*|do_trap|do_error_trap|exc_\w+|asm_exc_\w+|page_fault_oops|"
    r"kernelmode_fixup_or_oops|no_context|__bad_area\w*|bad_area\w*|do_user_addr_fault|"
    r"do_kern_addr_fault|watchdog_\w+|nmi_\w+|show_regs|check_hung_\w+|hung_task_\w*|"
    # arm32 and arm64: unwinders, die/fault paths and the exception vectors into them
    r"unwind_backtrace|dump_backtrace|c_backtrace|vpanic|arm64_notify_die|arm_notify_die|die_kernel_fault|"
    r"__do_kernel_fault|do_page_fault|do_bad_area|do_translation_fault|do_DataAbort|do_PrefetchAbort|"
    r"do_undefinstr|do_mem_abort|do_el1_\w+|el1_\w+|el1h_64_\w+|__dabt_svc|__pabt_svc|__und_svc|"
    r"bug_handler|call_break_hook|brk_handler|call_el1_break_hook|do_debug_exception|"
    # how a task sleeps, not where: the top of every hung task's stack
    r"__schedule|schedule|schedule_timeout|schedule_hrtimeout\w*|schedule_preempt_disabled|io_schedule\w*)$"
)
SIGNATURE_FRAMES = 5


class PanicInfo(TypedDict):
    """DESIGN's ``panic`` object: the crash as a person reads it."""

    kind: str
    message: str | None
    cpu: int | None
    pid: int | None
    comm: str | None
    pc: str | None
    pc_symbol: str | None
    taint: str | None
    call_trace: list[str]


@dataclass
class CrashSummary:
    """One crash as read from its log; ``None`` means the log did not say."""

    kind: str = "unknown"
    message: str | None = None
    cpu: int | None = None
    pid: int | None = None
    comm: str | None = None
    pc: str | None = None
    pc_symbol: str | None = None
    taint: str | None = None  # taint letters ("GOE"); "" when the kernel said "Not tainted"
    call_trace: list[str] = field(default_factory=list)
    signature: str | None = None
    # Extra facts for matching one crash across sources; not part of DESIGN's panic object.
    trigger: str | None = None
    timestamp: float | None = None  # uptime seconds of the message line
    release: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> PanicInfo:
        """DESIGN's ``panic`` object, exactly."""
        return {
            "kind": self.kind,
            "message": self.message,
            "cpu": self.cpu,
            "pid": self.pid,
            "comm": self.comm,
            "pc": self.pc,
            "pc_symbol": self.pc_symbol,
            "taint": self.taint,
            "call_trace": list(self.call_trace),
        }


@dataclass(frozen=True)
class LogLine:
    timestamp: float | None
    text: str


def parse_lines(log_text: str) -> list[LogLine]:
    """Split a kernel log into lines without their printk prefixes."""
    out = []
    for raw in log_text.splitlines():
        m = _LINE.match(raw)
        assert m is not None  # the pattern matches every string
        ts = m.group("ts")
        out.append(LogLine(float(ts) if ts else None, m.group("text").rstrip()))
    return out


def classify(text: str) -> str | None:
    """The trigger class of one log line's text, or None."""
    stripped = text.strip()
    for kind, rx in TRIGGERS:
        if rx.search(stripped):
            return kind
    return None


def summarize(log_text: str, cpus: Sequence[Any] | None = None) -> CrashSummary:
    """Find the crash in ``log_text``; ``cpus`` (objects with ``.cpu``, ``.pid``,
    ``.pc``, e.g. a dump's NT_PRSTATUS notes) fills in what the log lacks."""
    lines = parse_lines(log_text)
    # Only the last boot's lines: pstore and console logs may carry older boots.
    start = max((i for i, ln in enumerate(lines) if ln.text.startswith("Linux version ")), default=0)
    lines = lines[start:]
    summary = CrashSummary()
    for ln in lines:
        if ln.text.startswith("Linux version "):
            summary.release = ln.text.split()[2] if len(ln.text.split()) > 2 else None

    # The panic line itself, not its "---[ end Kernel panic - not syncing: … ]---" marker.
    panic_at = max(
        (i for i, ln in enumerate(lines) if PANIC_MARK in ln.text and not ln.text.lstrip().startswith("---[ end ")),
        default=None,
    )
    limit = panic_at if panic_at is not None else len(lines) - 1
    triggers = [(i, kind) for i, ln in enumerate(lines[: limit + 1]) if (kind := classify(ln.text))]
    trigger_at, trigger_kind = _choose_trigger(lines, panic_at, triggers)

    if trigger_at is not None:
        summary.kind = trigger_kind or "unknown"
        summary.trigger = lines[trigger_at].text.strip()
    elif panic_at is not None:
        summary.kind = trigger_kind or "panic"  # the reason alone may name the kind
    if panic_at is not None:
        text = lines[panic_at].text
        summary.message = text[text.index(PANIC_MARK) :].strip()
        summary.timestamp = lines[panic_at].timestamp
    elif trigger_at is not None:
        summary.message = summary.trigger
        summary.timestamp = lines[trigger_at].timestamp

    origin = trigger_at if trigger_at is not None else panic_at
    if origin is not None:
        _read_context(lines[origin:], summary)
    # From the log alone: the same crash seen through pstore (no registers) and through a
    # dump must share it, so a PC named from the dump's kallsyms below does not enter it.
    summary.signature = signature(summary.kind, summary.pc_symbol, summary.call_trace, summary.message)
    if cpus:
        _cross_check(summary, cpus)
    return summary


def _choose_trigger(
    lines: list[LogLine], panic_at: int | None, triggers: list[tuple[int, str]]
) -> tuple[int | None, str | None]:
    if panic_at is not None:
        reason = lines[panic_at].text
        for needle, kind in _REASON_KINDS:
            if needle in reason:
                same = [i for i, k in triggers if k == kind]
                if same:
                    return same[-1], kind
                return None, kind
    # The first trigger is usually the root cause; later oopses cascade. A
    # warning is only the cause when nothing worse happened.
    serious = [(i, k) for i, k in triggers if k != "warning"]
    chosen = serious or triggers
    if chosen:
        return chosen[0]
    return None, None


def _read_context(lines: list[LogLine], summary: CrashSummary) -> None:
    """Fill CPU/PID/Comm/taint, PC and call trace from the lines after the trigger."""
    trace_from = None
    for i, ln in enumerate(lines):
        text = ln.text.strip()
        if summary.cpu is None and (m := _CPU_LINE.search(text)):
            summary.cpu, summary.pid, summary.comm = int(m["cpu"]), int(m["pid"]), m["comm"]
            summary.taint = (m["flags"] or "").replace(" ", "")
            summary.release = m["release"]
        if summary.pc is None:
            _read_pc(text, summary)
        if trace_from is None and _TRACE_START.match(text):
            trace_from = i + 1
        elif trace_from is None and _arm_frame(text):
            trace_from = i  # the 32-bit ARM unwinder prints no header line
    if trace_from is not None:
        summary.call_trace = read_trace(lines[trace_from:])


def _read_pc(text: str, summary: CrashSummary) -> None:
    for rx in _PC_LINES:
        m = rx.match(text)
        if not m:
            continue
        seg = m.groupdict().get("seg")
        if seg is not None and seg not in ("0010", "0060"):  # user-mode registers
            return
        summary.pc = m["pc"].strip()
        if sm := _SYMBOL.search(text):
            summary.pc_symbol = sm["sym"] + (sm["mod"] or "")
        return


def read_trace(lines: Sequence[LogLine]) -> list[str]:
    """Frames of one call-trace block ('?' frames kept, marked), up to its end."""
    frames: list[str] = []
    arm = False
    for ln in lines:
        text = ln.text.strip()
        if _TRACE_MARKERS.match(text):
            if text == "</TASK>":
                break
            continue
        pair = _arm_frame(text)
        if pair and (arm or not frames):
            # "WHERE from CALLER+off": WHERE is the previous line's CALLER, except on the first
            # line, where it is the innermost function (the crash site for an oops).
            if not arm:
                frames.append(pair[0])
                arm = True
            frames.append(pair[1])
            continue
        if arm and _ARM_TRACE_NOISE.match(text):
            continue
        m = _FRAME.match(text)
        if not m:
            if frames:
                break
            continue
        frames.append(("? " if m["q"] else "") + m["frame"])
    return frames


def _arm_frame(text: str) -> tuple[str, str] | None:
    """(where, caller) of one 32-bit ARM backtrace line, or None."""
    for rx in _ARM_FRAMES:
        if m := rx.match(text):
            return m["where"], m["caller"]
    return None


def normalize_frame(frame: str) -> str | None:
    """``fx_write.cold+0x12/0x2e [fxcrash abc123]`` → ``fx_write [fxcrash]``; None for '?' frames."""
    if frame.startswith("? "):
        return None
    m = _SYMBOL.match(frame) or _BARE_SYMBOL.fullmatch(frame.strip())
    if not m:
        return frame.strip() or None
    name = m["sym"].split("+", 1)[0]
    # Compiler clones differ between builds of the same source.
    name = re.sub(r"\.(?:cold|isra|constprop|part|llvm|lto_priv)(?:\.\d+)*", "", name)
    mod = m["mod"]
    if mod:
        mod = " [" + mod.strip()[1:-1].split()[0] + "]"  # drop the module build id
    return name + (mod or "")


def signature(kind: str, pc_symbol: str | None, frames: Sequence[str], message: str | None) -> str:
    """Stable hash of the kind and the crash site: same place, same signature."""
    parts = []
    if pc_symbol:
        norm = normalize_frame(pc_symbol)
        if norm:
            parts.append(norm)
    for frame in frames:
        norm = normalize_frame(frame)
        if norm and not _MACHINERY.match(norm.split(" ", 1)[0]) and norm not in parts[-1:]:
            parts.append(norm)
        if len(parts) >= SIGNATURE_FRAMES:
            break
    if not parts and message:
        # No trace: the message without numbers (addresses, PIDs, counts) stands in.
        parts.append(re.sub(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+", "N", message))
    digest = hashlib.sha256("\n".join([kind, *parts]).encode()).hexdigest()
    return digest[:16]


def _cross_check(summary: CrashSummary, cpus: Sequence[Any]) -> None:
    """Take the crashing CPU's registers when the log does not name them.

    ``.cpu`` is the note's position, not a CPU number: /proc/vmcore has notes only
    for CPUs that saved registers (an offline CPU 1 shifts CPU 2 to position 1).
    So the note is found by the log's PID (as ``crashd vmcore`` does); the position
    stands in only when it cannot be wrong: one note, or no PID in the log."""
    if summary.pid is not None:
        same = [c for c in cpus if getattr(c, "pid", None) == summary.pid]
        chosen = same[0] if len(same) == 1 else (cpus[0] if len(cpus) == 1 else None)
        if not same and len(cpus) > 1:
            summary.warnings.append(f"no register note carries PID {summary.pid} (CPU {summary.cpu}): registers not taken")
    elif summary.cpu is not None:
        chosen = {getattr(c, "cpu", None): c for c in cpus}.get(summary.cpu)
    else:
        chosen = cpus[0] if len(cpus) == 1 else None
    if chosen is None:
        return
    pid = getattr(chosen, "pid", None)
    if summary.cpu is None:
        summary.cpu = getattr(chosen, "cpu", None)
    if summary.pid is None:
        summary.pid = pid
    elif pid is not None and pid != summary.pid:
        summary.warnings.append(f"log says PID {summary.pid} on CPU {summary.cpu}, the dump's registers say PID {pid}")
    pc = getattr(chosen, "pc", None)
    if summary.pc is None and isinstance(pc, int) and pc:
        summary.pc = f"0x{pc:x}"
        # the dump's kallsyms name for it (crashd.vmcore's CpuState.pc_symbol), when it has one
        sym = getattr(chosen, "pc_symbol", None)
        if summary.pc_symbol is None and isinstance(sym, str):
            summary.pc_symbol = sym
