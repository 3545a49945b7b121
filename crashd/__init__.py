"""crashd: a systemd-integrated crash-dump system for Linux.

Arm the capture kernel (``crashd daemon``), save ``/proc/vmcore`` in the capture
kernel (``crashd save``), and turn dumps and pstore records into crash records
after the next boot (``crashd ingest``).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
