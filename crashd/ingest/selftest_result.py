"""After the reboot of a ``crashd test --crash``: did the test pass, and the journal says so.

Passed means a *complete* crash record whose capture carries the test's id
(``capture.json``'s ``test_id``, copied from ``crashd.test_id=`` by the capture
kernel). Anything else after the crashed boot is a failure with the reason: no
record, a record that is incomplete, or one without the id (a pstore log only:
the capture kernel never saved). While the crashed boot is still running, the
test stays pending.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crashd.core.journal import Journal
from crashd.core.paths import HostPaths
from crashd.core.selftest_state import PendingTest, SelftestResult, read_selftest, write_selftest
from crashd.ingest.store import Record, list_records

__all__ = ["judge", "resolve"]


def _boot_id(paths: HostPaths) -> str | None:
    try:
        return paths.boot_id.read_text().strip().replace("-", "").lower()
    except OSError:
        return None


def _capture(rec: Record) -> dict[str, Any]:
    cap = (rec.metadata or {}).get("capture")
    return cap if isinstance(cap, dict) else {}


def judge(pending: PendingTest, records: list[Record]) -> tuple[bool, str, str | None]:
    """(passed, why, record name) for ``pending`` given the store's records."""
    carrying = [r for r in records if _capture(r).get("test_id") == pending["id"]]
    for rec in reversed(carrying):
        if (rec.metadata or {}).get("complete") is True:
            return True, "a complete record carries the test id", rec.name
    if carrying:
        rec = carrying[-1]
        errors = [str(e) for e in _capture(rec).get("errors") or []]
        detail = f": {'; '.join(errors[:3])}" if errors else ""
        return False, f"record {rec.name} carries the test id but is incomplete{detail}", rec.name
    same_boot = [r for r in records if (r.metadata or {}).get("crashed_boot_id") == pending["boot_id"]]
    if same_boot:
        rec = same_boot[-1]
        return False, (f"record {rec.name} is of the tested crash but no capture carrying the test id was saved "
                       "(the capture kernel did not run or did not finish)"), rec.name
    return False, ("no crash record of the tested crash: the capture kernel did not save anything "
                   "(out of memory? see 'crashd estimate' and the console of the capture)"), None


def resolve(paths: HostPaths, journal: Journal, now: dt.datetime | None = None) -> SelftestResult | None:
    """Turn a pending test into a result once its crash is behind us; None when there is none."""
    state = read_selftest(paths)
    pending = state["pending"]
    if pending is None or _boot_id(paths) in (None, pending["boot_id"]):
        return None
    passed, why, record = judge(pending, list_records(paths))
    finished = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result: SelftestResult = {"id": pending["id"], "result": "passed" if passed else "failed", "why": why,
                          "started": pending["started"], "finished": finished, "record": record,
                          "fingerprint": pending["fingerprint"]}
    state["pending"] = None
    state["last"] = result
    if passed:
        state["last_passed"] = result
    write_selftest(paths, state)
    if passed:
        journal.event("selftest_passed", f"crashd self-test {pending['id']} passed: record {record}",
                      priority=5, test_id=pending["id"], record=record)
    else:
        journal.event("selftest_failed", f"crashd self-test {pending['id']} FAILED: {why}",
                      priority=3, test_id=pending["id"], record=record, why=why)
    return result
