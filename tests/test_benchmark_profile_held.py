"""``python -m benchmarks.profile held``: the bytes an open session keeps, measured for real."""

from __future__ import annotations

import re

import pytest

from benchmarks.profile import main


def test_held_reports_the_bytes_each_open_session_keeps(capsys: pytest.CaptureFixture[str]) -> None:
    # Against the project's Python test server (its own process): 20 sessions,
    # each with its connection, its auth and transport objects and its
    # Identify answer. Far more than nothing, far less than a megabyte.
    assert main(["held", "--hosts", "20", "--server", "python"]) == 0
    out = capsys.readouterr().out
    assert "(20 sessions, connection included)" in out
    found = re.search(r"^\s+([\d,]+) bytes$", out, re.MULTILINE)
    assert found is not None, out
    assert 3_000 < int(found.group(1).replace(",", "")) < 100_000
    # What the garbage collector walks per open session: the session's own
    # objects and its idle connection's (asyncio's and aiohttp's), some tens.
    tracked = re.search(
        r"^\s+([\d.]+) objects tracked by the garbage collector$", out, re.MULTILINE
    )
    assert tracked is not None, out
    assert 10 < float(tracked.group(1)) < 200


def test_collector_reports_the_collectors_share_per_host(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["collector", "--scenario", "fanout", "--hosts", "60", "--concurrency", "30"]
    args += ["--reps", "1", "--server", "python", "--contenders", "aiowsman-sessions,raw"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for contender in ("aiowsman-sessions", "raw"):
        row = re.search(
            rf"^\s+{contender}\s+CPU\s+([\d.]+)\s+collector\s+([\d.]+) \(\d+%\)\s+"
            r"collections: (\d+) young, (\d+) full$",
            out,
            re.MULTILINE,
        )
        assert row is not None, out
        assert float(row.group(1)) > 0
        assert float(row.group(2)) <= float(row.group(1))  # a share of the CPU, never more
    assert re.search(r"^\s+CPU raw/aiowsman-sessions = \d\.\d{3}$", out, re.MULTILINE), out


def test_held_commands_reports_the_bytes_each_command_in_flight_keeps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 10 commands at once against the Python test server, each waiting in a
    # Receive when measured: a session, a shell, a process and its requests.
    assert main(["held", "--commands", "--hosts", "10"]) == 0
    out = capsys.readouterr().out
    assert "(10 hosts, session and shell)" in out
    found = re.search(r"^\s+([\d,]+) bytes$", out, re.MULTILINE)
    assert found is not None, out
    assert 5_000 < int(found.group(1).replace(",", "")) < 200_000
    assert re.search(r"^\s+[\d,]+\s+\S+\.py:\d+$", out, re.MULTILINE), out  # the top sites
