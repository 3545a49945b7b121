"""Triage of a dump with the crashed kernel's debug info: lookup by build id, the drgn report.

``debuginfo`` finds the vmlinux (and module debug files), ``report`` makes the report with drgn
(imported only there), ``schema`` and ``text`` are its two forms, ``run`` ties them to a record
and bounds the run at ingest.
"""

from __future__ import annotations

__all__ = ()
