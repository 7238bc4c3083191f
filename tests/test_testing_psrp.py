"""The test server's PowerShell plug-in driven by another PSRP client: pypsrp's.

aiowsman's client and the test server share psrpcore; pypsrp (0.8+) has a
serializer and fragmenter of its own and was written against real Windows,
so it checks the server independently: open a pool, run pipelines, read
objects and streams, pipe input, stop one, close -- and nothing is left open.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.wsman import WSMan

from aiowsman.testing import ShellFamily, WSManTestServer, serve_in_thread
from aiowsman.testing.families.psrp import RunspacePoolRuntime


@pytest.fixture
def server() -> Iterator[WSManTestServer]:
    with serve_in_thread(users={"user": "pass"}) as srv:
        yield srv


def _wsman(server: WSManTestServer) -> WSMan:
    url = urllib.parse.urlsplit(server.endpoints[0])
    return WSMan(
        url.hostname or "127.0.0.1",
        port=url.port,
        path=url.path.lstrip("/"),
        ssl=False,
        auth="basic",
        encryption="never",
        username="user",
        password="pass",
        no_proxy=True,
        operation_timeout=5,
        read_timeout=15,
    )


def _shells(server: WSManTestServer) -> ShellFamily:
    return server.host(0).family(ShellFamily)


def _run(pool: RunspacePool, script: str, **kwargs: Any) -> PowerShell:
    ps = PowerShell(pool)
    ps.add_script(script)
    ps.invoke(**kwargs)
    return ps


def test_a_pypsrp_pool_keeps_state_between_pipelines(server: WSManTestServer) -> None:
    with _wsman(server) as wsman, RunspacePool(wsman) as pool:
        _run(pool, "$x = 5")
        assert _run(pool, "$x * 2").output == [10]
    assert _shells(server).open_shells() == []


def test_pypsrp_reads_objects_the_server_writes(server: WSManTestServer) -> None:
    with _wsman(server) as wsman, RunspacePool(wsman) as pool:
        ps = _run(pool, "Get-Service WinRM")
        (svc,) = ps.output
        assert svc.adapted_properties.get("Name", svc.extended_properties.get("Name")) == "WinRM"
        assert str(svc.extended_properties["Status"]) == "Running"


def test_pypsrp_gets_each_stream_apart(server: WSManTestServer) -> None:
    with _wsman(server) as wsman, RunspacePool(wsman) as pool:
        ps = _run(pool, "$VerbosePreference = 'Continue'; Write-Error 'e'; Write-Warning 'w'; "
                  "Write-Verbose 'v'; Write-Information 'i'; 'out'")  # fmt: skip
        assert ps.output == ["out"]
        assert [str(e) for e in ps.streams.error] == ["e"]
        assert [w.message for w in ps.streams.warning] == ["w"]
        assert [v.message for v in ps.streams.verbose] == ["v"]
        assert [i.message_data for i in ps.streams.information] == ["i"]


def test_pypsrp_input_is_echoed(server: WSManTestServer) -> None:
    with _wsman(server) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output")
        assert ps.invoke(input=[1, 2, 3]) == [1, 2, 3]


def test_a_pypsrp_stop_stops_the_pipeline_on_the_server(server: WSManTestServer) -> None:
    with _wsman(server) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_script("Start-Sleep 600")
        ps.begin_invoke()
        ps.stop()
        assert ps.state == PSInvocationState.STOPPED
        (shell,) = _shells(server).open_shells()
        runtime = shell.runtime
        assert isinstance(runtime, RunspacePoolRuntime)
        (record,) = runtime.pipelines.values()
        assert record.stop_requested
    assert _shells(server).open_shells() == []


def test_a_pypsrp_failure_is_a_failed_pipeline(server: WSManTestServer) -> None:
    with _wsman(server) as wsman, RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Nothing")
        ps.invoke()
        assert ps.state == PSInvocationState.FAILED
        assert "not recognized" in str(ps.streams.error[0])
