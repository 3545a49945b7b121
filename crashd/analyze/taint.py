"""The kernel's taint flags, letter and meaning (``Documentation/admin-guide/tainted-kernels.rst``)."""

from __future__ import annotations

__all__ = ["TAINTS", "explain_taint", "taint_letters"]

# bit -> (letter when set, meaning); bit 0 unset is shown as "G"
TAINTS: tuple[tuple[str, str], ...] = (
    ("P", "a proprietary module was loaded"),
    ("F", "a module was force-loaded"),
    ("S", "running on out-of-spec hardware (or an SMP kernel on non-SMP-safe CPUs)"),
    ("R", "a module was force-unloaded"),
    ("M", "a machine check exception occurred"),
    ("B", "a bad page was referenced or some unexpected page flags seen"),
    ("U", "taint requested by userspace"),
    ("D", "the kernel died recently (an oops or BUG)"),
    ("A", "an ACPI table was overridden"),
    ("W", "the kernel issued a warning"),
    ("C", "a staging driver was loaded"),
    ("I", "a workaround for a platform firmware bug is in use"),
    ("O", "an out-of-tree module was loaded"),
    ("E", "an unsigned module was loaded"),
    ("L", "a soft lockup occurred"),
    ("K", "the kernel has been live patched"),
    ("X", "an auxiliary taint (defined by the distribution)"),
    ("T", "built with the struct randomization plugin"),
    ("N", "an in-kernel test (KUnit) has been run"),
)


def taint_letters(mask: int) -> str:
    """``P  O   `` style compressed: only the set letters, in bit order (``""`` when clean)."""
    return "".join(letter for bit, (letter, _m) in enumerate(TAINTS) if mask >> bit & 1)


def explain_taint(mask: int) -> list[dict[str, str]]:
    """One ``{letter, meaning}`` per set bit; unknown bits are named by number."""
    out = [{"letter": letter, "meaning": meaning} for bit, (letter, meaning) in enumerate(TAINTS) if mask >> bit & 1]
    for bit in range(len(TAINTS), 64):
        if mask >> bit & 1:
            out.append({"letter": "?", "meaning": f"taint bit {bit} (unknown to crashd)"})
    return out
