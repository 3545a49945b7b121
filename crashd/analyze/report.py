"""The triage report of one dump, made with drgn (imported here only, lazily).

Each part (crashed task, other CPUs, tasks, modules, taint, memory, fault) is made on its own: one
that fails is a line in ``problems`` and the others are still reported. Kernel features are
detected (a member or symbol that exists or not), never inferred from the version number.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crashd.analyze.debuginfo import DebugInfo, KernelId
from crashd.analyze.schema import Analysis, Backtrace, Frame, Memory, ModuleRow, TaskRow, empty
from crashd.analyze.taint import explain_taint, taint_letters
from crashd.core.errors import CrashdError

# drgn is a Recommends (python3-drgn): this module is imported only to analyse, and a missing drgn
# is reported by drgn_available() as something to install, not as an error.
try:  # what Debian 12's python3-drgn 0.0.22 has
    import drgn
    from drgn.helpers.common.memory import identify_address
    from drgn.helpers.linux.cpumask import for_each_online_cpu
    from drgn.helpers.linux.list import list_for_each_entry
    from drgn.helpers.linux.percpu import per_cpu
    from drgn.helpers.linux.pid import for_each_task
    from drgn.helpers.linux.sched import task_cpu, task_state_to_char
    from drgn.helpers.linux.slab import for_each_slab_cache
except ImportError:  # pragma: no cover - exercised by the packaging test's scan, not at run time
    drgn = None  # type: ignore[assignment]
try:  # newer helpers (drgn 0.0.23+): replaced below by what they do when absent
    from drgn.helpers.linux.sched import cpu_curr
except ImportError:
    cpu_curr = None  # type: ignore[assignment]
try:
    from drgn.helpers.linux.mm import totalram_pages
except ImportError:
    totalram_pages = None  # type: ignore[assignment]
try:
    from drgn.helpers.linux.slab import slab_cache_usage, slab_total_usage
except ImportError:
    slab_cache_usage = slab_total_usage = None  # type: ignore[assignment]

__all__ = ["MAX_FRAMES", "MAX_TASKS", "PANIC_MACHINERY", "analyze_dump", "drgn_available", "fault_address", "top_frames"]

MAX_FRAMES = 64
MAX_TASKS = 4096  # rows kept in analysis.json; tasks_total says how many there were
MAX_INVOLVED = 32
# Frames of the crash path itself, skipped when choosing the frames that say where it happened.
PANIC_MACHINERY = frozenset({
    "crash_setup_regs", "__crash_kexec", "crash_kexec", "panic", "vpanic", "oops_end", "die", "die_addr",
    "do_trap", "do_error_trap", "exc_invalid_op", "handle_invalid_op", "handle_bug", "exc_page_fault",
    "page_fault_oops", "kernelmode_fixup_or_oops", "__bad_area_nosemaphore", "bad_area_nosemaphore",
    "do_user_addr_fault", "do_kern_addr_fault", "asm_exc_page_fault", "asm_exc_invalid_op", "no_context",
    "__die", "__die_body", "arm64_notify_die", "die_kernel_fault", "__do_kernel_fault", "do_page_fault",
    "do_translation_fault", "do_mem_abort", "el1_abort", "el1h_64_sync_handler", "el1h_64_sync", "bug_handler",
    "call_break_hook", "brk_handler", "do_el1_brk64", "el1_dbg", "__do_user_fault",
})
_FAULT = re.compile(
    r"(?:unable to handle page fault for address|NULL pointer dereference, address"  # x86
    r"|unable to handle kernel (?:NULL pointer dereference|paging request) at(?: virtual address)?)"  # arm64, arm
    r"[: ]+(?:0x)?([0-9a-fA-F]{1,16})", re.IGNORECASE)


def drgn_available() -> str | None:
    """drgn's version when it can be imported, else None (the package is a Recommends)."""
    if drgn is None:
        return None
    return str(getattr(drgn, "__version__", "?"))


def fault_address(dmesg: str) -> int | None:
    """The faulting address an oops printed (x86 and arm64 wording); None when there is none."""
    m = _FAULT.search(dmesg)
    return int(m.group(1), 16) if m else None


def top_frames(frames: Iterable[Frame], count: int = 5) -> list[str]:
    """The first ``count`` named frames past the panic machinery (for the symbolised signature)."""
    out = [f["function"] for f in frames if f["function"] and f["function"] not in PANIC_MACHINERY]
    return [name for name in out if name][:count]


def _frames(trace: Any) -> list[Frame]:
    out: list[Frame] = []
    for frame in list(trace)[:MAX_FRAMES]:
        try:
            name: str | None = frame.name
        except (LookupError, AttributeError):
            name = None
        if name is not None and name.startswith("0x"):  # drgn names an unknown pc by its value
            name = None
        file = line = None
        try:
            loc = frame.source()
            file, line = str(loc[0]), int(loc[1])
        except (LookupError, ValueError, TypeError):
            pass
        try:
            sym = frame.symbol()
            symbol: str | None = f"{sym.name}+{hex(frame.pc - sym.address)}/{hex(sym.size)}"
        except (LookupError, ValueError):
            symbol = None
        else:
            if name is None and not getattr(frame, "is_inline", False):  # a drgn without StackFrame.name
                name = sym.name
        if file and "/build/" in file:  # a build directory in DW_AT_name: keep the tree-relative path
            file = re.sub(r"^.*/build/[^/]+/linux-[^/]+/", "", file)
        out.append(Frame(function=name, file=file, line=line, inline=bool(getattr(frame, "is_inline", False)),
                         pc=hex(frame.pc), symbol=symbol))
    return out


def _task_backtrace(prog: Any, task: Any, cpu: int | None) -> Backtrace:
    return Backtrace(cpu=cpu, pid=int(task.pid), comm=task.comm.string_().decode(errors="replace"),
                     frames=_frames(prog.stack_trace(task)))


def _modules(prog: Any, info: DebugInfo, report: Analysis) -> None:
    rows: list[ModuleRow] = []
    paths: list[str] = []
    for mod in list_for_each_entry("struct module", prog["modules"].address_of_(), "list"):
        name = mod.name.string_().decode(errors="replace")
        size = None
        for get in (lambda m: m.core_layout.size, lambda m: sum(int(x.size) for x in m.mem)):
            try:
                size = int(get(mod))
                break
            except (AttributeError, LookupError, TypeError):
                continue
        try:
            taint = taint_letters(int(mod.taints))
        except AttributeError:
            taint = ""
        found = info.module_file(name)
        if found is not None:
            paths.append(str(found))
        rows.append(ModuleRow(name=name, size=size, taint=taint, debuginfo=found is not None))
    if paths:
        try:
            prog.load_debug_info(paths)
        except Exception as exc:  # noqa: BLE001 - drgn raises MissingDebugInfoError for any that failed
            report["problems"].append(f"module debug info: {str(exc).splitlines()[0]}")
    report["modules"] = rows


def _tasks(prog: Any, report: Analysis) -> list[Any]:
    rows: list[tuple[TaskRow, Any]] = []
    for task in for_each_task(prog):
        try:
            cpu: int | None = int(task_cpu(task))
        except Exception:  # noqa: BLE001 - a !SMP kernel has no cpu member
            cpu = None
        rows.append((TaskRow(pid=int(task.pid), state=task_state_to_char(task),
                             comm=task.comm.string_().decode(errors="replace"), cpu=cpu), task))
    order = {"D": 0, "R": 1}
    rows.sort(key=lambda r: (order.get(r[0]["state"], 2), r[0]["pid"]))
    report["tasks"] = [r for r, _t in rows[:MAX_TASKS]]
    report["tasks_total"] = len(rows)
    return [t for r, t in rows if r["state"] == "D"]


def _memory(prog: Any) -> Memory:
    page = int(prog["PAGE_SIZE"]) if _has(prog, "PAGE_SIZE") else 4096
    if totalram_pages is not None:
        total = int(totalram_pages(prog))
    else:  # an atomic_long_t since v5.0 (ca79b0c211af)
        var = prog["_totalram_pages"] if _has(prog, "_totalram_pages") else prog["totalram_pages"]
        total = int(var.counter) if _has_member(var, "counter") else int(var)
    mem = Memory(total_bytes=total * page, free_bytes=None, slab_reclaimable_bytes=None,
                 slab_unreclaimable_bytes=None, top_slab_caches=[])
    try:
        mem["free_bytes"] = int(prog["vm_zone_stat"][prog["NR_FREE_PAGES"]].counter) * page
    except (LookupError, AttributeError):
        pass
    try:
        if slab_total_usage is not None:
            usage = slab_total_usage(prog)
            reclaimable, unreclaimable = int(usage.reclaimable_pages), int(usage.unreclaimable_pages)
        else:  # renamed with a _B suffix in v5.9 (d42f3245c7e2)
            suffix = "_B" if _has(prog, "NR_SLAB_RECLAIMABLE_B") else ""
            stat = prog["vm_node_stat"]
            reclaimable = int(stat[prog[f"NR_SLAB_RECLAIMABLE{suffix}"]].counter)
            unreclaimable = int(stat[prog[f"NR_SLAB_UNRECLAIMABLE{suffix}"]].counter)
        # NR_SLAB_*_B are updated in bytes but kept in pages, as /proc/meminfo reads them
        mem["slab_reclaimable_bytes"] = reclaimable * page
        mem["slab_unreclaimable_bytes"] = unreclaimable * page
    except (LookupError, AttributeError):
        pass
    if slab_cache_usage is None:
        return mem  # per-cache statistics: drgn 0.0.23+
    try:
        caches = []
        for cache in for_each_slab_cache(prog):
            use = slab_cache_usage(cache)
            caches.append({"name": cache.name.string_().decode(errors="replace"),
                           "bytes": int(use.num_slabs) * (page << int(cache.oo.x >> 16)) if _has_member(cache, "oo")
                           else int(use.num_objs) * int(cache.size),
                           "objects": int(use.active_objs)})
        mem["top_slab_caches"] = sorted(caches, key=lambda c: -c["bytes"])[:10]
    except (LookupError, AttributeError, ValueError):
        pass
    return mem


def _has(prog: Any, name: str) -> bool:
    try:
        prog[name]
    except KeyError:
        return False
    return True


def _has_member(obj: Any, member: str) -> bool:
    try:
        getattr(obj, member)
    except AttributeError:
        return False
    return True


def _fault(prog: Any, addr: int) -> dict[str, Any]:
    what = None
    try:
        what = identify_address(prog, addr)
    except LookupError:
        what = None
    except Exception as exc:  # noqa: BLE001 - an unmapped address can fail in many ways
        what = f"not identified: {exc}"
    if what is None and addr < 4096:
        what = f"NULL pointer + {addr:#x}"
    return {"address": hex(addr), "what": what}


def _part(report: Analysis, name: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one part that fails must not lose the others
        report["problems"].append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        return None


def analyze_dump(dump: Path, kernel: KernelId, info: DebugInfo, *, kind: str | None = None, dmesg: str = "") -> Analysis:
    """The report for ``dump`` with ``info``'s vmlinux; ``kind`` is the record's panic kind."""
    if drgn is None:
        raise CrashdError("drgn is not installed: install python3-drgn (pip: drgn)")
    start = time.monotonic()
    report = empty("ok", {"release": kernel.release, "build_id": kernel.build_id})
    report["tool"] = f"drgn {getattr(drgn, '__version__', '?')}"
    report["debuginfo"] = {"vmlinux": str(info.vmlinux), "how": info.how, "verified": info.verified}
    prog = drgn.Program()
    prog.set_core_dump(str(dump))
    try:
        prog.load_debug_info([str(info.vmlinux)])
    except drgn.MissingDebugInfoError as exc:  # e.g. a module's: the vmlinux itself loaded
        report["problems"].append(f"debug info: {str(exc).splitlines()[0]}")
    _part(report, "modules", lambda: _modules(prog, info, report))
    crashed = _part(report, "crashed task", lambda: prog.crashed_thread())
    crashed_cpu = None
    if crashed is not None:
        task = crashed.object
        try:
            crashed_cpu = int(task_cpu(task))
        except Exception:  # noqa: BLE001
            crashed_cpu = None
        bt = _part(report, "crashed task backtrace", lambda: _task_backtrace(prog, task, crashed_cpu))
        if bt is not None:
            report["crashed"] = bt
            report["top_frames"] = top_frames(bt["frames"])

    def cpus() -> list[Backtrace]:
        out = []
        for cpu in for_each_online_cpu(prog):
            if cpu == crashed_cpu:
                continue
            curr = cpu_curr(prog, cpu) if cpu_curr is not None else per_cpu(prog["runqueues"], cpu).curr
            out.append(_task_backtrace(prog, curr, cpu))
        return out

    report["cpus"] = _part(report, "other CPUs", cpus) or []
    blocked = _part(report, "tasks", lambda: _tasks(prog, report)) or []
    if kind in ("hung_task", "lockup"):
        report["involved"] = [b for b in (_part(report, "involved task", lambda t=t: _task_backtrace(prog, t, None))
                                          for t in blocked[:MAX_INVOLVED]) if b is not None]
    mask = _part(report, "taint", lambda: int(prog["tainted_mask"]))
    if mask is not None:
        report["taint"] = {"mask": mask, "letters": taint_letters(mask), "flags": explain_taint(mask)}
    report["memory"] = _part(report, "memory", lambda: _memory(prog))
    addr = fault_address(dmesg)
    if addr is not None:
        report["fault"] = _part(report, "fault address", lambda: _fault(prog, addr))
    report["seconds"] = round(time.monotonic() - start, 2)
    return report
