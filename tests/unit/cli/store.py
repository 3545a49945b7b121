"""A store of several crash records: one really ingested, the others its metadata with other
kinds, kernels, signatures and times (the shape ingest writes)."""

from __future__ import annotations

import copy
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crashd.core.paths import HostPaths
from tests.unit.ingest.scenario import Machine, pstore_text, sysrq_messages

SIG_A, SIG_B = "53756df05093d8eb", "9f00aa11bb22cc33"

# (hours before now, kind, kernel, signature, complete, id)
LAYOUT: list[tuple[int, str, str, str | None, bool, str]] = [
    (100, "kdump", "6.1.0-56-amd64", SIG_A, True, "aaaa1111"),
    (50, "pstore", "6.1.0-56-amd64", SIG_A, True, "bbbb2222"),
    (30, "kdump+pstore", "6.5.0-1-amd64", SIG_B, False, "cccc3333"),
    (20, "unclean-reset", "6.5.0-1-amd64", None, True, "dddd4444"),
    (1, "kdump", "6.1.0-56-amd64", SIG_A, True, "aaaa5555"),
]


def several_records(tmp_path: Path, now: datetime | None = None) -> tuple[Path, list[str]]:
    """The store under ``tmp_path``, its record names oldest first."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    m = Machine(tmp_path)
    m.pstore("dmesg-ramoops-0", pstore_text(sysrq_messages(5.0)), mtime=1_700_000_000)
    m.ingest()
    real = m.records()[0]
    store = HostPaths(tmp_path).crash_store
    template: dict[str, Any] = json.loads((real / "metadata.json").read_text())
    names = []
    for hours, kind, kernel, sig, complete, rid in LAYOUT:
        when = now - timedelta(hours=hours)
        name = f"{when:%Y%m%dT%H%M%S}-{kind}-{rid}"
        meta = copy.deepcopy(template)
        meta.update(kind=kind, id=rid, signature=sig, complete=complete,
                    crash_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"))
        meta["kernel"]["release"] = kernel
        if kind == "unclean-reset":
            meta["panic"] = None
            meta["sources"] = {"unclean": {"summary": "the machine reset without a shutdown"}}
        shutil.copytree(real, store / name)
        (store / name / "metadata.json").write_text(json.dumps(meta))
        names.append(name)
    shutil.rmtree(real)
    return tmp_path, names
