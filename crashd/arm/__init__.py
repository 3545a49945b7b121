"""Stage 1, the running system: readiness, boot files, kexec, panic policy, hotplug, the arming daemon."""

__all__ = []
