"""One time style for people (local time, zone, age) and journalctl-like --since/--until."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from crashd.cli.timefmt import age, human, humanize_text, iso_utc, parse_when

NOW = datetime(2026, 12, 1, 19, 39, 7, tzinfo=UTC)


@pytest.fixture
def tz_utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_human_has_weekday_zone_and_age(tz_utc: None) -> None:
    assert human("2026-12-01T18:39:07Z", now=NOW) == "Tue 2026-12-01 18:39:07 UTC (1h ago)"
    assert human("2026-12-01T18:39:07+00:00", now=NOW) == "Tue 2026-12-01 18:39:07 UTC (1h ago)"
    assert human(NOW.timestamp() - 90, now=NOW) == "Tue 2026-12-01 19:37:37 UTC (1min 30s ago)"


def test_human_is_local_time() -> None:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    try:
        assert human("2026-12-01T18:39:07Z", now=NOW).startswith("Tue 2026-12-01 19:39:07 CET (1h ago)")
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_human_of_nothing_or_garbage() -> None:
    assert human(None) == "-"
    assert human("not a time") == "not a time"  # shown as it is, never an exception
    assert human("\x1b]0;x") == "\\x1b]0;x"  # cleaned: a record's field


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "now"), (5, "5s ago"), (65, "1min 5s ago"), (600, "10min ago"), (3600, "1h ago"),
    (3600 + 300, "1h 5min ago"), (7 * 3600, "7h ago"), (26 * 3600, "1 day 2h ago"), (3 * 86400, "3 days ago"),
    (9 * 86400, "1 week 2 days ago"), (40 * 86400, "1 month 9 days ago"), (800 * 86400, "2 years 2 months ago"),
    (-120, "2min left"),
])
def test_age(seconds: int, text: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == text


def test_iso_utc() -> None:
    assert iso_utc(datetime(2026, 12, 1, 19, 39, 7, tzinfo=UTC)) == "2026-12-01T19:39:07Z"
    assert iso_utc(1_700_000_000) == "2023-11-14T22:13:20Z"


def test_humanize_text_rewrites_every_iso_stamp(tz_utc: None) -> None:
    out = humanize_text("untested since 2026-12-01T18:39:07Z: initrd changed (last test passed 2026-11-30T19:39:07Z)",
                        now=NOW)
    assert out == ("untested since Tue 2026-12-01 18:39:07 UTC (1h ago): initrd changed "
                   "(last test passed Mon 2026-11-30 19:39:07 UTC (1 day ago))")


@pytest.mark.parametrize(("spec", "expected"), [
    ("now", NOW),
    ("-2h", NOW - timedelta(hours=2)),
    ("-30min", NOW - timedelta(minutes=30)),
    ("+1h", NOW + timedelta(hours=1)),
    ("2 days ago", NOW - timedelta(days=2)),
    ("3h ago", NOW - timedelta(hours=3)),
    ("1h 30min ago", NOW - timedelta(minutes=90)),
    ("today", datetime(2026, 12, 1, tzinfo=UTC)),
    ("yesterday", datetime(2026, 11, 30, tzinfo=UTC)),
    ("tomorrow", datetime(2026, 12, 2, tzinfo=UTC)),
    ("2026-11-03", datetime(2026, 11, 3, tzinfo=UTC)),
    ("2026-11-03 10:20", datetime(2026, 11, 3, 10, 20, tzinfo=UTC)),
    ("2026-11-03 10:20:30", datetime(2026, 11, 3, 10, 20, 30, tzinfo=UTC)),
    ("2026-11-03T10:20:30Z", datetime(2026, 11, 3, 10, 20, 30, tzinfo=UTC)),
    ("2026-11-03T10:20:30+02:00", datetime(2026, 11, 3, 8, 20, 30, tzinfo=UTC)),
    ("10:20", datetime(2026, 12, 1, 10, 20, tzinfo=UTC)),
])
def test_parse_when(tz_utc: None, spec: str, expected: datetime) -> None:
    assert parse_when(spec, NOW) == expected


@pytest.mark.parametrize("spec", ["", "soon", "-2", "2 parsecs ago", "2026-13-01", "-99999999999999999999y", "25:00"])
def test_parse_when_refuses(spec: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_when(spec, NOW)
