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
