"""PowerShell remoting over many hosts: invoke_command through the fan-out runner.

One record per host, one runspace pool per host for all its scripts, and no
pool left open on any host whatever happens to it (checked on the server).
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from aiowsman import AsyncSession
from aiowsman.errors import PipelineFailedError
from aiowsman.fanout import InvokeCommand, invoke_command, run
from aiowsman.psrp import InvokeResult
from aiowsman.testing import ShellFamily, WSManTestServer
from tests.conftest import BASIC_OVER_HTTP, PASSWORD, USER


def _open_shells(server: WSManTestServer) -> int:
    return sum(len(h.family(ShellFamily).open_shells()) for h in server.hosts)


async def test_session_invoke_command_returns_objects_and_streams(
    basic_session: AsyncSession,
) -> None:
    result = await basic_session.invoke_command("Get-Service WinRM; Write-Warning 'careful'")
    (svc,) = result.output
    assert (svc.Name, str(svc.Status)) == ("WinRM", "Running")
    assert result.streams.warning == ["careful"]
    assert (result.state, result.had_errors) == ("Completed", False)


async def test_invoke_command_keeps_one_pool_so_state_persists(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    await basic_session.invoke_command("$total = 40")
    result = await basic_session.invoke_command("$total + 2")
    assert result.output == [42]
    shells = basic_server.host(0).family(ShellFamily)
    assert len(shells.created) == 1
    await basic_session.aclose()
    assert shells.open_shells() == []


async def test_invoke_command_passes_arguments_parameters_and_input(
    basic_session: AsyncSession,
) -> None:
    result = await basic_session.invoke_command("$input", input=[1, 2])
    assert result.output == [1, 2]
    result = await basic_session.invoke_command("$args", arguments=["a", 2])
    assert result.output == ["a", 2]
    result = await basic_session.invoke_command("$name * 2", parameters={"Name": 21})
    assert result.output == [42]


async def test_invoke_command_opens_a_new_pool_when_the_server_dropped_it(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    await basic_session.invoke_command("$x = 1")
    shells = basic_server.host(0).family(ShellFamily)
    for shell in shells.open_shells():  # reaped, as an idle timeout would
        shell.idle_timeout = 0
    shells.expire_idle()
    result = await basic_session.invoke_command("'again'")
    assert result.output == ["again"]
    assert len(shells.created) == 2 and len(shells.expired) == 1


async def test_one_record_per_host_and_no_pool_left_open() -> None:
    async with WSManTestServer(hosts=4, users={USER: PASSWORD}) as srv:
        results = await invoke_command(
            srv.endpoints, "hostname; Get-Date", **BASIC_OVER_HTTP
        ).collect()
        assert _open_shells(srv) == 0
    by_host = {r.host: r for r in results}
    assert len(by_host) == 4
    for i, url in enumerate(srv.endpoints):
        value = by_host[url].value
        assert isinstance(value, InvokeResult)
        assert value.output[0] == f"HOST{i:04d}"


async def test_several_scripts_share_one_pool_per_host() -> None:
    async with WSManTestServer(hosts=3, users={USER: PASSWORD}) as srv:
        results = await run(
            srv.endpoints, InvokeCommand(("$n = 2", "$n * 21")), **BASIC_OVER_HTTP
        ).collect()
        created = [len(h.family(ShellFamily).created) for h in srv.hosts]
        assert _open_shells(srv) == 0
    assert created == [1, 1, 1]
    for result in results:
        assert [r.output for r in result.value] == [[], [42]]  # type: ignore[union-attr]


async def test_a_lambda_over_session_invoke_command_is_the_invoke_command_shape() -> None:
    async def op(session: Any) -> Any:
        return (await session.invoke_command("Get-Service WinRM")).output[0].Status

    async with WSManTestServer(hosts=2, users={USER: PASSWORD}) as srv:
        results = await run(srv.endpoints, op, **BASIC_OVER_HTTP).collect()
        assert _open_shells(srv) == 0
    assert [str(r.value) for r in results] == ["Running", "Running"]


async def test_a_failing_script_fails_its_host_only() -> None:
    async with WSManTestServer(hosts=2, users={USER: PASSWORD}) as srv:
        results = await run(
            srv.endpoints,
            InvokeCommand(("if-this-is-a-command", "throw 'bad host'")),
            **BASIC_OVER_HTTP,
        ).collect()
        assert _open_shells(srv) == 0
    for result in results:
        assert not result.ok
        assert isinstance(result.error, PipelineFailedError)
        assert result.error_class == "fault" and "bad host" in (result.message or "")


async def test_a_host_past_its_deadline_leaves_no_pool_open() -> None:
    async with WSManTestServer(hosts=2, users={USER: PASSWORD}) as srv:
        results = await invoke_command(
            srv.endpoints, "Start-Sleep 600", deadline=2.0, retries=0, **BASIC_OVER_HTTP
        ).collect()
        assert _open_shells(srv) == 0
    assert {r.error_class for r in results} == {"timeout"}


async def test_results_pickle_for_worker_processes(basic_session: AsyncSession) -> None:
    result = await basic_session.invoke_command(
        "Get-Process -Name lsass; Write-Information 'note'; Write-Error 'x'"
    )
    back = pickle.loads(pickle.dumps(result))
    (proc,) = back.output
    assert (proc.Name, proc.Id) == (result.output[0].Name, result.output[0].Id)
    assert [e.message for e in back.streams.error] == ["x"]
    assert [i.message for i in back.streams.information] == ["note"]


async def test_invoke_command_on_worker_processes() -> None:
    async with WSManTestServer(hosts=3, users={USER: PASSWORD}) as srv:
        results = await invoke_command(
            srv.endpoints, "Get-Service WinRM", processes=2, **BASIC_OVER_HTTP
        ).collect()
        assert _open_shells(srv) == 0
    assert len(results) == 3
    for result in results:
        assert result.ok, result.message
        assert [s.Name for s in result.value.output] == ["WinRM"]


def test_invoke_command_needs_a_script() -> None:
    from aiowsman.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least one script"):
        invoke_command(["h"])
