"""Fuzz the config parser: any bytes end, in bounded time and memory, as a report.

Hostile or absurd input (issue 10 F2) must never raise: ``read_config`` returns
problems, each one line naming FILE:LINE. Small budgets keep this in the fast suite.
"""

from __future__ import annotations

import resource
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crashd.core.config import read_config
from crashd.core.paths import HostPaths
from crashd.core.settings import SETTINGS

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

_keys = st.sampled_from([s.key for s in SETTINGS] + ["x", ""])
_sections = st.sampled_from(sorted({s.section for s in SETTINGS}) + ["nope", ""])
_values = st.one_of(
    st.text(max_size=60),
    st.from_regex(r"[0-9]{1,500}(\.[0-9]{0,30})?[KMGTkmgt]?(i?B)?", fullmatch=True),
    st.from_regex(r"([0-9]{1,40}[smhdw]\s?){1,5}", fullmatch=True),
    st.sampled_from(["keep", "yes", "no", "/../../etc", "var/crash", "LABEL=", "/dev/", "x # y", "\x00", "\x1b[2J"]),
)
_line = st.one_of(
    st.builds(lambda k, v: f"{k} = {v}", _keys, _values),
    st.builds(lambda s: f"[{s}]", _sections),
    st.text(max_size=40),
)


def _check(tmp: Path, data: bytes) -> None:
    (tmp / "etc").mkdir(parents=True, exist_ok=True)
    (tmp / "etc/crashd.conf").write_bytes(data)
    report = read_config(HostPaths(tmp))  # must not raise
    for problem in report.problems:
        text = str(problem)
        assert text.startswith("/etc/crashd.conf"), text
        assert "\n" not in text and len(text) < 1000, text


@FUZZ
@given(lines=st.lists(_line, max_size=30))
def test_structured_configs_never_raise(tmp_path: Path, lines: list[str]) -> None:
    _check(tmp_path, "\n".join(lines).encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=st.binary(max_size=2000))
def test_random_bytes_never_raise(tmp_path: Path, data: bytes) -> None:
    _check(tmp_path, data)


def test_a_megabyte_config_parses_in_bounded_memory(tmp_path: Path) -> None:
    # the largest file allowed, every line a value to parse
    line = b"[retention]\nmax_size = " + b"9" * 60 + b"\n"
    data = line * ((1 << 20) // len(line))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _check(tmp_path, data)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200 << 10  # well under 200 MiB for a 1 MiB file
