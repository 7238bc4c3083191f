"""``aiowsman ps --psrp``: PowerShell remoting from the command line.

Run as a user runs it (a subprocess), against the test server; the runspace
pools it used are checked gone on the server afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from aiowsman.testing import ShellFamily, WSManTestServer
from tests.cli_run import AUTH, aiowsman, records


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=3) as srv:
        yield srv


def _open_shells(server: WSManTestServer) -> int:
    return sum(len(h.family(ShellFamily).open_shells()) for h in server.hosts)


async def test_hosts_file_gives_one_json_record_per_host_with_objects(
    server: WSManTestServer, tmp_path: object
) -> None:
    from pathlib import Path

    hosts = Path(str(tmp_path)) / "hosts.txt"
    hosts.write_text("\n".join(server.endpoints) + "\n")
    code, out, _ = await aiowsman(
        "ps", "--psrp", "--hosts", str(hosts), *AUTH, "-q", "--",
        "Get-Service WinRM; Write-Warning 'w'",
    )  # fmt: skip
    assert code == 0
    found = records(out)
    assert sorted(r["host"] for r in found) == sorted(server.endpoints)
    for record in found:
        value = record["value"]
        (svc,) = value["output"]
        assert (svc["Name"], svc["Status"]) == ("WinRM", "Running")
        assert value["warnings"] == ["w"] and value["errors"] == []
        assert value["state"] == "Completed"
    assert _open_shells(server) == 0


async def test_one_host_prints_objects_for_people(server: WSManTestServer) -> None:
    script = "Get-Process -Name lsass | Select-Object -Property Name, Handles; 'done'"
    code, out, err = await aiowsman(
        "ps", "--psrp", "-r", server.endpoints[0], *AUTH, "--", script + "; Write-Error 'oops'"
    )  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Name = lsass" and lines[1].startswith("Handles = ")
    assert lines[-1] == "done"
    assert err.splitlines()[0] == "oops"
    assert _open_shells(server) == 0


async def test_a_terminating_error_fails_the_host(server: WSManTestServer) -> None:
    code, _, err = await aiowsman(
        "ps", "--psrp", "-r", server.endpoints[0], *AUTH, "--", "throw 'no way'"
    )
    assert code != 0
    assert "no way" in err
    assert _open_shells(server) == 0


async def test_stream_writes_a_record_per_object_as_it_arrives(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "ps", "--psrp", "--stream", "--format", "jsonl", "-r", server.endpoints[0],
        "-r", server.endpoints[1], *AUTH, "-q", "--", "1; 2; 'three'",
    )  # fmt: skip
    assert code == 0
    by_host: dict[str, list[object]] = {}
    for record in records(out):
        by_host.setdefault(record["host"], []).append(record["value"])
    assert by_host == {url: [1, 2, "three"] for url in server.endpoints[:2]}
    assert _open_shells(server) == 0


async def test_configuration_picks_the_endpoint(server: WSManTestServer) -> None:
    code, _, err = await aiowsman(
        "ps", "--psrp", "--configuration", "NoSuchEndpoint", "-r", server.endpoints[0], *AUTH,
        "--", "1",
    )  # fmt: skip
    assert code != 0
    assert "NoSuchEndpoint" in err
