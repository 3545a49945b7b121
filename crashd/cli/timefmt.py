"""The one time style of crashd's output, and the times ``--since``/``--until`` accept.

For people: local time with weekday, zone and age, as systemd's tools print it
(``Tue 2026-12-01 18:39:07 UTC (1h ago)``). For machines (JSON): UTC ISO 8601
(``2026-12-01T18:39:07Z``). Every time a verb prints goes through :func:`human`,
or through :func:`humanize_text` for a sentence made elsewhere with ISO stamps in it.

:func:`parse_when` takes what journalctl's ``--since`` takes and crashd can parse
without guessing: ``now``, ``today``, ``yesterday``, ``tomorrow``, ``-2h``,
``+30min``, ``2 days ago``, ``1h 30min ago``, ``YYYY-MM-DD[ HH:MM[:SS]]``, ISO 8601
with a zone, ``HH:MM[:SS]`` (today). Times without a zone are local time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from crashd.cli.output import clean

__all__ = ["age", "human", "humanize_text", "iso_utc", "parse_when", "to_datetime"]

# seconds per unit, as systemd's timespan parser spells them (m = minute, M = month)
_UNITS: dict[str, float] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("M", "month", "months"), 2_629_800),  # 30.44 days, as systemd
    **dict.fromkeys(("y", "year", "years"), 31_557_600),  # 365.25 days
}
_SPAN_PART = re.compile(r"(\d{1,9})\s*([a-zA-Z]+)")
_ISO_IN_TEXT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_MAX_SPAN = 200 * 31_557_600


def to_datetime(value: object) -> datetime | None:
    """An aware datetime from an ISO string, epoch seconds or a datetime; None if not a time."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.astimezone()
    return None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def age(then: datetime, now: datetime | None = None) -> str:
    """``1h 5min ago`` / ``2min left``: the two largest units, as systemd's relative timestamps."""
    now = now or datetime.now(UTC)
    delta = (now - then).total_seconds()
    suffix = "ago" if delta >= 0 else "left"
    s = int(abs(delta))
    if s == 0:
        return "now"
    year, month, week, day = 31_557_600, 2_629_800, 7 * 86400, 86400
    if s >= year:
        text = f"{_plural(s // year, 'year')}" + (f" {_plural(s % year // month, 'month')}" if s % year // month else "")
    elif s >= month:
        text = f"{_plural(s // month, 'month')}" + (f" {_plural(s % month // day, 'day')}" if s % month // day else "")
    elif s >= week:
        text = f"{_plural(s // week, 'week')}" + (f" {_plural(s % week // day, 'day')}" if s % week // day else "")
    elif s >= 2 * day:
        text = _plural(s // day, "day")
    elif s >= day:
        text = _plural(s // day, "day") + (f" {s % day // 3600}h" if s % day // 3600 else "")
    elif s >= 6 * 3600:
        text = f"{s // 3600}h"
    elif s >= 3600:
        text = f"{s // 3600}h" + (f" {s % 3600 // 60}min" if s % 3600 // 60 else "")
    elif s >= 300:
        text = f"{s // 60}min"
    elif s >= 60:
        text = f"{s // 60}min" + (f" {s % 60}s" if s % 60 else "")
    else:
        text = f"{s}s"
    return f"{text} {suffix}"


def human(value: object, now: datetime | None = None) -> str:
    """``Tue 2026-12-01 18:39:07 UTC (1h ago)`` in local time; ``-`` for None; a value that is
    not a time is shown cleaned, as it is."""
    if value is None or value == "":
        return "-"
    dt = to_datetime(value)
    if dt is None:
        return clean(str(value))
    local = dt.astimezone()
    return f"{local.strftime('%a %Y-%m-%d %H:%M:%S %Z')} ({age(dt, now)})"


def humanize_text(text: str, now: datetime | None = None) -> str:
    """``text`` with every ISO 8601 stamp in it written as :func:`human` writes it."""
    return _ISO_IN_TEXT.sub(lambda m: human(m.group(), now), text)


def iso_utc(value: object) -> str | None:
    """``2026-12-01T18:39:07Z`` (for JSON); None when ``value`` is not a time."""
    dt = to_datetime(value)
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_midnight(now: datetime, days: int) -> datetime:
    local = now.astimezone()
    day = local.date() + timedelta(days=days)
    return datetime(day.year, day.month, day.day).astimezone()


def _span(text: str) -> float | None:
    """Seconds of ``2h``, ``1h 30min``, ``2 days``; None when not a span."""
    parts = _SPAN_PART.findall(text)
    if not parts or _SPAN_PART.sub("", text).strip():
        return None
    total = 0.0
    for number, unit in parts:
        factor = _UNITS.get(unit) or (_UNITS.get(unit.lower()) if unit.lower() != "m" else None)
        if factor is None:
            return None
        total += int(number) * factor
    return total if total <= _MAX_SPAN else None


def parse_when(spec: str, now: datetime | None = None) -> datetime:
    """An aware datetime for a ``--since``/``--until`` value; ValueError (one line) otherwise."""
    now = now or datetime.now(UTC)
    text = spec.strip()
    fixed = {"now": lambda: now, "today": lambda: _local_midnight(now, 0),
             "yesterday": lambda: _local_midnight(now, -1), "tomorrow": lambda: _local_midnight(now, 1)}
    if text in fixed:
        return fixed[text]()
    seconds: float | None = None
    if text[:1] in "+-" and len(text) > 1:
        seconds = _span(text[1:].strip())
        if seconds is not None and text[0] == "-":
            seconds = -seconds
    elif text.endswith(" ago"):
        seconds = _span(text[:-4].strip())
        seconds = None if seconds is None else -seconds
    if seconds is not None:
        return now + timedelta(seconds=seconds)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    try:
        if m:
            base = _local_midnight(now, 0)
            return base.replace(hour=int(m[1]), minute=int(m[2]), second=int(m[3] or 0))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?", text):
            dt = to_datetime(text)
            if dt is not None:
                return dt
    except ValueError:
        pass
    raise ValueError(f"not a time: {clean(spec)!r} (use e.g. -2h, '2 days ago', yesterday, 2026-12-01 18:00)")
