"""``xs:duration`` formatting and parsing.

WS-Management carries times as XML Schema durations: OperationTimeout
(DSP0226 6.1, e.g. ``PT60.000S``), the shell's IdleTimeOut and MaxIdleTimeOut
(``PT7200.000S``, ``P0DT0H0M0S``), ``cim:Interval`` values and OMI's plain
text intervals (``P365DT24H60M``).

Years and months have no fixed length; when a server sends them (no WS-Man
server in the corpus does) they are taken as 365 and 30 days.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["format_duration", "format_interval", "parse_duration", "parse_timedelta"]

_DURATION_RE = re.compile(
    r"""^\s*(?P<sign>-)?P
    (?:(?P<years>\d+)Y)?
    (?:(?P<months>\d+)M)?
    (?:(?P<days>\d+)D)?
    (?:T
        (?:(?P<hours>\d+)H)?
        (?:(?P<minutes>\d+)M)?
        (?:(?P<seconds>\d+(?:\.\d*)?|\.\d+)S)?
    )?\s*$""",
    re.VERBOSE,
)


def format_duration(seconds: float) -> str:
    """Format seconds as an ``xs:duration`` with millisecond precision.

    Args:
        seconds: a non-negative, finite number of seconds.

    Returns:
        ``"PT60.000S"`` for 60; WinRM's own client sends this shape.

    Raises:
        ValueError: negative, NaN or infinite (WinRM answers ``PT-1S`` with
            InvalidMessageInformationHeader; see the corpus).
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be finite and non-negative, not {seconds!r}")
    millis = round(seconds * 1000)
    return f"PT{millis // 1000}.{millis % 1000:03d}S"


def format_interval(value: timedelta) -> str:
    """Format a CIM interval (a :class:`~datetime.timedelta`) as an ``xs:duration``.

    Days, hours, minutes and seconds with microseconds, zero parts left out
    (``P2000D``, ``P1DT2H3M4.000005S``, ``PT0S``): the shape OMI writes (its
    FormatWSManDatetime), which every ``xs:duration`` reader accepts, and
    exact to the microsecond, as CIM intervals are.

    Raises:
        ValueError: a negative interval (CIM has none; OMI refuses ``-P...``).
    """
    if value < timedelta(0):
        raise ValueError(f"a CIM interval cannot be negative: {value!r}")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"P{value.days}D" if value.days else "P"
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or value.microseconds:
        time += f"{seconds}.{value.microseconds:06d}S" if value.microseconds else f"{seconds}S"
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"


def parse_duration(text: str) -> float:
    """Parse an ``xs:duration`` into seconds.

    Args:
        text: e.g. ``"PT60.000S"``, ``"P0DT0H0M0S"``, ``"P365DT24H60M"``;
            surrounding whitespace is ignored (OMI pads values).

    Returns:
        The duration in seconds (negative for ``-P...``).

    Raises:
        ValueError: not an ``xs:duration``.
    """
    m = _DURATION_RE.match(text)
    if m is None or text.strip().rstrip("T").endswith("P") or text.strip().endswith("T"):
        raise ValueError(f"not an xs:duration: {text!r}")
    g = m.groupdict()
    total = (
        int(g["years"] or 0) * 365 * 86400
        + int(g["months"] or 0) * 30 * 86400
        + int(g["days"] or 0) * 86400
        + int(g["hours"] or 0) * 3600
        + int(g["minutes"] or 0) * 60
        + float(g["seconds"] or 0)
    )
    return -total if g["sign"] else total


def parse_timedelta(text: str) -> timedelta:
    """Parse an ``xs:duration`` into a :class:`~datetime.timedelta`.

    Raises:
        ValueError: not an ``xs:duration``.
    """
    return timedelta(seconds=parse_duration(text))
