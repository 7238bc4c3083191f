"""``python -m benchmarks.profile held``: the bytes an open session keeps, measured for real."""

from __future__ import annotations

import argparse
import re

import pytest

from benchmarks._common import Target
from benchmarks.profile import _units, _worker_params, main


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


@pytest.mark.parametrize("scenario", ["cycle", "reused"])
def test_compare_runs_the_command_scenarios_per_command(
    scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Remote commands always go to the Python test server (the only one
    # with shells), whatever --server says.
    args = ["compare", "--scenario", scenario, "--count", "5", "--reps", "1"]
    assert main([*args, "--server", "native", "--contenders", "aiowsman,raw"]) == 0
    out = capsys.readouterr().out
    for contender in ("aiowsman", "raw"):
        row = re.search(
            rf"^\s+{contender}\s+([\d.]+) \(([\d.]+)\.\.([\d.]+)\)\s+([\d.]+) /s$", out, re.M
        )
        assert row is not None, out
        assert float(row.group(1)) > 0 and float(row.group(4)) > 0
    assert re.search(rf"^{scenario}: median client CPU us/unit", out, re.M), out


def test_the_command_scenarios_count_commands_not_requests() -> None:
    # A cycle is five requests and a reused-shell command three: the unit is
    # the command, as in the suite's tables.
    args = argparse.Namespace(scenario="cycle", count=7)
    target = Target(endpoints=["http://127.0.0.1:1/wsman"])
    assert _worker_params(args, target) == ("commands", {"mode": "cycle", "count": 7})
    assert _units({"commands": 7, "ops": 35}, "cycle") == 7
    assert _units({"commands": 7, "ops": 21}, "reused") == 7
    assert _units({"ops": 21}, "get") == 21
