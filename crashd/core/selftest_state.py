"""The self-test's state file, ``/var/lib/crashd/selftest.json``: the one format two stages share.

``crashd test --crash`` (arm) writes a pending test before it crashes the kernel;
ingest, after the reboot, turns it into a result; ``crashd status`` reads both.
Arm and ingest may not import each other, so the format lives here. It is a JSON
sidecar with a schema version, written durably, read without following links.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, TypedDict, cast

from crashd.core.errors import UnsafePathError
from crashd.core.fsutil import read_regular, write_durable
from crashd.core.paths import HostPaths

__all__ = [
    "PendingTest",
    "SCHEMA",
    "STATE_FILE",
    "SelftestState",
    "TEST_ID_RE",
    "SelftestResult",
    "empty_state",
    "read_selftest",
    "selftest_dir",
    "write_selftest",
]

SCHEMA = 1
STATE_FILE = "selftest.json"
TEST_ID_RE = re.compile(r"^[0-9a-f]{16}$")  # crashd.test_id= on the capture command line
_LIMIT = 1 << 20


class PendingTest(TypedDict):
    id: str
    started: str  # ISO 8601 UTC
    boot_id: str  # the boot that crashed on purpose (32 hex digits)
    fingerprint: dict[str, str]  # kernel, initrd, dtb, reservation, capture config at the test


class SelftestResult(TypedDict):
    id: str
    result: str  # "passed" or "failed"
    why: str
    started: str
    finished: str
    record: str | None  # the crash record that carries the id
    fingerprint: dict[str, str]


class SelftestState(TypedDict):
    schema: int
    pending: PendingTest | None
    last: SelftestResult | None  # the latest result, passed or failed
    last_passed: SelftestResult | None


def empty_state() -> SelftestState:
    return {"schema": SCHEMA, "pending": None, "last": None, "last_passed": None}


def selftest_dir(paths: HostPaths) -> Path:
    """``/var/lib/crashd``: persistent (the result must outlive the reboot it waits for)."""
    return paths.var("lib", "crashd")


def read_selftest(paths: HostPaths) -> SelftestState:
    """The state; an absent, unreadable or foreign file reads as "never tested"."""
    try:
        data: Any = json.loads(read_regular(selftest_dir(paths) / STATE_FILE, _LIMIT))
    except (OSError, UnsafePathError, ValueError):
        return empty_state()
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        return empty_state()
    def entry(key: str) -> Any:
        value = data.get(key)
        ok = isinstance(value, dict) and isinstance(value.get("id"), str) and TEST_ID_RE.match(value["id"])
        return value if ok else None

    return {"schema": SCHEMA, "pending": cast(PendingTest | None, entry("pending")),
            "last": cast(SelftestResult | None, entry("last")), "last_passed": cast(SelftestResult | None, entry("last_passed"))}


def write_selftest(paths: HostPaths, state: SelftestState) -> None:
    directory = selftest_dir(paths)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_durable(directory, STATE_FILE, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode())
