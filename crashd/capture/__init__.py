"""Capture: what ``crashd save`` does inside the capture kernel.

The machine has died; a small kernel with one CPU and tens of MiB of RAM is
running. This package gets the evidence in ``/proc/vmcore`` onto persistent
storage before the reboot: the kernel log first (smallest, most valuable), then
the dump, then ``capture.json`` saying exactly what happened.

Modules: ``layout`` (ELF program headers of the vmcore), ``spool`` (the capture
directory and its durable, atomic life cycle), ``target`` (directory or device),
``space`` (estimates and free space), ``copy`` (native sparse streaming copy),
``makedumpfile`` (the external collector), ``dmesg`` (kernel log with
fallbacks), ``progress`` (console and sd_notify), ``actions`` (final/failure
action), ``save`` (the orchestrator and its fallback chain).
"""

__all__ = []
