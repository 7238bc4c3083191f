"""``aiowsman run`` and ``aiowsman ps``: remote commands from the command line.

Run as a user runs them (a subprocess), against the test server; the shells
they used are checked gone on the server afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from aiowsman.testing import ShellFamily, WSManTestServer
from tests.cli_run import AUTH, aiowsman, records


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=3) as srv:
        for host in srv.hosts:
            host.family(ShellFamily).ping_interval = 0.05
        yield srv


def _open_shells(server: WSManTestServer) -> int:
    return sum(len(h.family(ShellFamily).open_shells()) for h in server.hosts)


async def test_one_host_prints_the_output_as_the_command_wrote_it(
    server: WSManTestServer,
) -> None:
    code, out, err = await aiowsman(
        "run", "-r", server.endpoints[0], *AUTH, "--", "ipconfig", "/all"
    )
    assert code == 0
    assert out.startswith("\r\nWindows IP Configuration\r\n")
    assert "Host Name . . . . . . . . . . . . : HOST0000" in out
    assert err == ""
    assert _open_shells(server) == 0


async def test_one_host_stderr_and_exit_code_go_to_stderr(server: WSManTestServer) -> None:
    code, out, err = await aiowsman(
        "run", "-r", server.endpoints[0], *AUTH, "--", "echo partial & nosuch & exit /b 4"
    )
    assert code == 0  # the host ran it; the command's own exit code is reported
    assert out == "partial \r\n"
    assert err.splitlines() == [
        "'nosuch' is not recognized as an internal or external command,",
        "operable program or batch file.",
        "exit code 4",
    ]


async def test_many_hosts_give_one_record_each(server: WSManTestServer) -> None:
    args = [a for url in server.endpoints for a in ("-r", url)]
    code, out, _ = await aiowsman("run", *args, *AUTH, "-q", "--", "hostname")
    assert code == 0
    by_host = {r["host"]: r["value"] for r in records(out)}
    assert {url: v["stdout"] for url, v in by_host.items()} == {
        url: f"HOST{i:04d}\r\n" for i, url in enumerate(server.endpoints)
    }
    assert {v["exit_code"] for v in by_host.values()} == {0}
    assert _open_shells(server) == 0


async def test_stream_prefixes_each_line_with_its_host_as_it_arrives(
    server: WSManTestServer,
) -> None:
    args = [a for url in server.endpoints[:2] for a in ("-r", url)]
    code, out, _ = await aiowsman(
        "run", *args, *AUTH, "-q", "--stream", "--", "aiowsman-lines", "3", "30", "tick"
    )
    assert code == 0
    for url in server.endpoints[:2]:
        mine = [line[len(url) + 2 :] for line in out.splitlines() if line.startswith(url + ": ")]
        assert mine == ["tick 1", "tick 2", "tick 3", "exit code 0"]


async def test_stream_as_json_lines_gives_a_record_per_line(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "run", "-r", server.endpoints[0], *AUTH, "--stream", "--format", "jsonl", "--",
        "echo one & echo two 1>&2",
    )  # fmt: skip
    assert code == 0
    assert [r["value"] for r in records(out)] == [
        {"stream": "stdout", "line": "one "},
        {"stream": "stderr", "line": "two "},
        {"command": "echo one & echo two 1>&2", "exit_code": 0},
    ]


async def test_words_after_the_dashes_are_the_command_options_and_all(
    server: WSManTestServer,
) -> None:
    code, out, _ = await aiowsman(
        "run", "-r", server.endpoints[0], *AUTH, "--", "ping", "-n", "2", "localhost"
    )
    assert code == 0
    assert out.count("Reply from 127.0.0.1") == 2


async def test_ps_decodes_the_error_streams(server: WSManTestServer) -> None:
    code, out, err = await aiowsman(
        "ps", "-r", server.endpoints[0], *AUTH, "--",
        "Write-Output 'héllo'; Write-Warning 'careful'; exit 2",
    )  # fmt: skip
    assert code == 0
    assert out == "héllo\r\n"
    assert err.splitlines() == ["WARNING: careful", "exit code 2"]


async def test_ps_records_carry_errors_and_warnings(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "ps", "--hosts", "-", *AUTH, "-q", "--", "Write-Error 'bad'",
        stdin=(server.endpoints[0] + "\n").encode(),
    )  # fmt: skip
    assert code == 0
    (record,) = records(out)
    assert record["value"]["errors"] == ["Write-Error 'bad' : bad"]
    assert record["value"]["exit_code"] == 0


async def test_a_command_past_its_deadline_fails_the_host_and_leaves_no_shell(
    server: WSManTestServer,
) -> None:
    code, _, err = await aiowsman(
        "run", "-r", server.endpoints[0], *AUTH, "--command-timeout", "1", "--",
        "echo started & waitfor never",
    )  # fmt: skip
    assert code == 3
    assert "deadline" in err
    assert _open_shells(server) == 0


async def test_run_without_a_command_is_a_usage_error(server: WSManTestServer) -> None:
    code, _, err = await aiowsman("run", "-r", server.endpoints[0], *AUTH)
    assert code == 2
    assert "give the command after --" in err
