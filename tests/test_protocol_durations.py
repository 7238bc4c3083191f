"""xs:duration formatting and parsing (OperationTimeout, shell timeouts, intervals)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiowsman.protocol import format_duration, parse_duration, parse_timedelta
from aiowsman.protocol.durations import format_interval


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (60, "PT60.000S"),
        (0, "PT0.000S"),
        (0.5, "PT0.500S"),
        (7200, "PT7200.000S"),
        (1.2345, "PT1.234S"),
    ],
)
def test_format_duration_matches_the_windows_client(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_format_duration_refuses_negative_and_non_finite(bad: float) -> None:
    with pytest.raises(ValueError):
        format_duration(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT60.000S", 60.0),
        ("PT20S", 20.0),
        ("P0DT0H0M0S", 0.0),
        ("PT7200.000S", 7200.0),
        ("P365DT24H60M", 365 * 86400 + 24 * 3600 + 3600.0),
        ("P1D", 86400.0),
        ("PT1H30M", 5400.0),
        ("-PT1S", -1.0),
        ("\n  PT5S \n", 5.0),
        ("P1Y", 365 * 86400.0),
        ("P2M", 2 * 30 * 86400.0),  # a month is taken as 30 days
        ("P1Y2M3DT4H5M6.5S", (365 + 60 + 3) * 86400 + 4 * 3600 + 5 * 60 + 6.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "P", "PT", "P1DT", "60", "PT1.5", "T5S", "P-1D", "PTS"])
def test_parse_duration_refuses_non_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_timedelta() -> None:
    assert parse_timedelta("P1DT2H3M4.5S") == timedelta(days=1, hours=2, minutes=3, seconds=4.5)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips_milliseconds(millis: int) -> None:
    assert parse_duration(format_duration(millis / 1000)) == pytest.approx(millis / 1000)


# -- CIM intervals (cim:Interval values in Put/Create/Invoke bodies) ---------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(days=2000), "P2000D"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5), "P1DT2H3M4.000005S"),
        (timedelta(hours=5), "PT5H"),
        (timedelta(minutes=59), "PT59M"),
        (timedelta(seconds=59), "PT59S"),
        (timedelta(microseconds=1), "PT0.000001S"),
        (timedelta(days=1, seconds=1), "P1DT1S"),
        (timedelta(hours=23, minutes=59, seconds=59, microseconds=999999), "PT23H59M59.999999S"),
    ],
)
def test_format_interval_writes_omis_shape_leaving_zero_parts_out(
    value: timedelta, text: str
) -> None:
    assert format_interval(value) == text


def test_format_interval_refuses_a_negative_interval() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_interval(timedelta(microseconds=-1))


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=1000)))
def test_format_interval_then_parse_round_trips_to_the_microsecond(value: timedelta) -> None:
    assert parse_timedelta(format_interval(value)) == value
