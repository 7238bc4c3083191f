"""The ``aiowsman`` command line, run as a real subprocess against a real server.

The server runs in the test's event loop, so the CLI is started with
``asyncio.create_subprocess_exec`` (a blocking ``subprocess.run`` would stop
the server from answering).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import pytest_asyncio

from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.cli_run import AUTH, REPO, aiowsman, records


async def jsonl(*args: str, **kwargs: Any) -> tuple[int, str, str]:
    """The command line with JSON-lines output (one host defaults to text)."""
    return await aiowsman(*args, "--format", "jsonl", **kwargs)


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else takes it) but refuses connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connect() gets RST
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[WSManTestServer]:
    async with WSManTestServer(hosts=3) as srv:
        yield srv


async def test_identify_prints_one_jsonl_record_per_host(server: WSManTestServer) -> None:
    remotes = [arg for url in server.endpoints for arg in ("-r", url)]
    code, out, _ = await aiowsman("identify", *remotes, *AUTH)
    assert code == 0
    got = records(out)
    assert sorted(r["host"] for r in got) == sorted(server.endpoints)
    assert all(r["ok"] and r["value"]["product_vendor"] for r in got)


async def test_get_with_selector_in_the_resource(server: WSManTestServer) -> None:
    code, out, _ = await jsonl(
        "get", "wmicimv2/Win32_Service?Name=WinRM", "-r", server.endpoints[0], *AUTH
    )
    assert code == 0
    [rec] = records(out)
    assert rec["value"]["Name"] == "WinRM"


async def test_get_with_selector_option(server: WSManTestServer) -> None:
    code, out, _ = await jsonl(
        "get", "wmicimv2/Win32_Service", "--selector", "Name=Spooler",
        "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0
    assert records(out)[0]["value"]["Name"] == "Spooler"


async def test_winrm_cmd_style_switches_are_understood(server: WSManTestServer) -> None:
    code, out, _ = await jsonl(
        "get", "wmicimv2/Win32_Service?Name=WinRM", f"-r:{server.endpoints[0]}",
        "-u:user", "-a:basic", "-unencrypted",
    )  # fmt: skip
    assert code == 0
    assert records(out)[0]["value"]["Name"] == "WinRM"


async def test_enumerate_count_with_a_wql_filter(server: WSManTestServer) -> None:
    store = server.host(0).store
    running = sum(1 for s in store.instances("Win32_Service") if s.values["State"] == "Running")
    code, out, _ = await jsonl(
        "enumerate", "wmicimv2/*", "--filter",
        "SELECT Name FROM Win32_Service WHERE State = 'Running'", "--count",
        "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0
    assert records(out)[0]["value"] == {"count": running}


async def test_enumerate_as_csv_has_one_row_per_item_with_its_host(
    server: WSManTestServer,
) -> None:
    code, out, _ = await aiowsman(
        "enumerate", "wmicimv2/Win32_LogicalDisk", "--format", "csv",
        "-r", server.endpoints[0], "-r", server.endpoints[1], *AUTH,
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    for i in (0, 1):
        disks = {
            str(d.values["DeviceID"]) for d in server.host(i).store.instances("Win32_LogicalDisk")
        }
        assert {r["DeviceID"] for r in rows if r["host"] == server.endpoints[i]} == disks


async def test_json_format_is_one_valid_array(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "identify", "-r", server.endpoints[0], "-r", server.endpoints[1], "--format", "json", *AUTH
    )
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 2


async def test_xml_format_carries_the_raw_instance(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "get", "wmicimv2/Win32_Service?Name=WinRM", "-r", server.endpoints[0],
        "--format", "xml", *AUTH,
    )  # fmt: skip
    assert code == 0
    root = ElementTree.fromstring(out)
    [result] = root
    assert result.get("ok") == "true"
    [instance] = list(result)
    assert instance.tag.endswith("}Win32_Service")


async def test_table_format_names_each_host(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "identify", "-r", server.endpoints[0], "-r", server.endpoints[1], "--format", "table", *AUTH
    )
    assert code == 0
    assert server.endpoints[0] in out and server.endpoints[1] in out


async def test_invoke_stops_the_service_on_the_host(server: WSManTestServer) -> None:
    code, out, _ = await jsonl(
        "invoke", "StopService", "wmicimv2/Win32_Service?Name=Spooler", "@{}",
        "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0, out
    assert records(out)[0]["value"]["ReturnValue"] in (0, "0")
    spooler = server.host(0).store.find("Win32_Service", {"Name": "Spooler"})
    assert spooler is not None and spooler.values["State"] == "Stopped"


async def test_set_updates_a_property_with_a_hash_literal(server: WSManTestServer) -> None:
    code, _, err = await aiowsman(
        "set", "wmicimv2/Win32_Environment?Name=OS&UserName=<SYSTEM>",
        '@{VariableValue="Plan9"}', "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0, err
    env = server.host(0).store.find("Win32_Environment", {"Name": "OS", "UserName": "<SYSTEM>"})
    assert env is not None and env.values["VariableValue"] == "Plan9"


async def test_create_then_delete_an_instance(server: WSManTestServer) -> None:
    store = server.host(0).store
    keys = {"Name": "AIOWSMAN_TEST", "UserName": "<SYSTEM>"}
    code, _, err = await aiowsman(
        "create", "wmicimv2/Win32_Environment", "--param", "Name=AIOWSMAN_TEST",
        "--param", "UserName=<SYSTEM>", "--param", "VariableValue=1",
        "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0, err
    assert store.find("Win32_Environment", keys) is not None
    code, _, err = await aiowsman(
        "delete", "wmicimv2/Win32_Environment", "--selector", "Name=AIOWSMAN_TEST",
        "--selector", "UserName=<SYSTEM>", "-r", server.endpoints[0], *AUTH,
    )  # fmt: skip
    assert code == 0, err
    assert store.find("Win32_Environment", keys) is None


async def test_hosts_file_of_plain_lines_with_comments(
    server: WSManTestServer, tmp_path: Path
) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# fleet\n\n" + "\n".join(server.endpoints) + "\n")
    code, out, _ = await aiowsman("identify", "--hosts", str(hosts), *AUTH)
    assert code == 0
    assert sorted(r["host"] for r in records(out)) == sorted(server.endpoints)


async def test_hosts_csv_with_a_host_column(server: WSManTestServer, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.csv"
    hosts.write_text("site,host\n" + "".join(f"lab,{u}\n" for u in server.endpoints))
    code, out, _ = await aiowsman("identify", "--hosts", str(hosts), *AUTH)
    assert code == 0
    assert sorted(r["host"] for r in records(out)) == sorted(server.endpoints)


async def test_hosts_from_stdin(server: WSManTestServer) -> None:
    code, out, _ = await aiowsman(
        "identify", "--hosts", "-", *AUTH, stdin="\n".join(server.endpoints).encode()
    )
    assert code == 0
    assert len(records(out)) == 3


async def test_output_file_receives_the_records(server: WSManTestServer, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    code, out, _ = await jsonl("identify", "-r", server.endpoints[0], "-o", str(target), *AUTH)
    assert code == 0 and out == ""
    assert records(target.read_text())[0]["ok"] is True


async def test_no_progress_bar_when_stderr_is_not_a_terminal(server: WSManTestServer) -> None:
    remotes = [arg for url in server.endpoints for arg in ("-r", url)]
    code, _, err = await aiowsman("identify", *remotes, *AUTH)
    assert code == 0
    assert "\x1b[" not in err  # no terminal control sequences
    assert "3 hosts: 3 ok, 0 failed" in err  # the end-of-run summary


async def test_quiet_prints_nothing_on_stderr(server: WSManTestServer) -> None:
    code, _, err = await aiowsman("identify", "-r", server.endpoints[0], "--quiet", *AUTH)
    assert code == 0 and err == ""


async def test_jsonl_records_are_written_as_hosts_finish() -> None:
    hole = HostBehaviour(always=Injection(InjectionKind.BLACK_HOLE))
    async with WSManTestServer(hosts=2, behaviours={1: hole}) as srv:
        env = dict(os.environ, PYTHONPATH=str(REPO), AIOWSMAN_PASSWORD="pass")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "aiowsman.cli", "identify", "-r", srv.endpoints[0],
            "-r", srv.endpoints[1], "--deadline", "20", "--quiet", *AUTH,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
        )  # fmt: skip
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 15)
        # The healthy host's record is out while the black hole still holds the run.
        assert json.loads(first)["host"] == srv.endpoints[0]
        assert proc.returncode is None
        proc.kill()
        await proc.wait()


# -- exit status -------------------------------------------------------------


async def test_exit_1_when_some_hosts_failed(server: WSManTestServer) -> None:
    with refusing_port() as port:
        down = f"http://127.0.0.1:{port}/wsman"
        code, out, err = await aiowsman(
            "identify", "-r", server.endpoints[0], "-r", down, "--retries", "0", *AUTH
        )
    assert code == 1
    by_host = {r["host"]: r for r in records(out)}
    assert by_host[down]["error_class"] == "connect"
    assert f"127.0.0.1:{port}" in err  # the failure is named


async def test_exit_3_when_every_host_failed(server: WSManTestServer) -> None:
    code, out, _ = await jsonl("identify", "-r", server.endpoints[0], *AUTH, password="wrong")
    assert code == 3
    assert records(out)[0]["error_class"] == "auth"


async def test_exit_2_when_basic_over_http_is_not_allowed(server: WSManTestServer) -> None:
    code, _, err = await aiowsman(
        "identify", "-r", server.endpoints[0], "-u", "user", "--auth", "basic"
    )
    assert code == 2
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate", "-r", "h"], "invalid choice"),
        (["identify", "-r", "h", "-p:secret"], "not accepted on the command line"),
    ],
)
async def test_bad_arguments_exit_2_with_one_line_and_no_traceback(
    args: list[str], message: str
) -> None:
    code, out, err = await aiowsman(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


async def test_missing_password_without_a_terminal_is_a_usage_error() -> None:
    code, _, err = await aiowsman("identify", "-r", "127.0.0.1:1", *AUTH, password=None)
    assert code == 2
    assert "AIOWSMAN_PASSWORD" in err


async def test_help_documents_the_exit_statuses() -> None:
    code, out, _ = await aiowsman("--help")
    assert code == 0
    assert "exit status" in out and "every host failed" in out
