"""Runspace pools end to end: opening, closing, configurations, quotas -- checked on the server.

Every test that could leave a pool behind looks at the server's own list of
shells (the test server's shell family holds runspace pools as shells).
"""

from __future__ import annotations

import asyncio

import pytest

from aiowsman import AsyncSession
from aiowsman.errors import (
    CommandQuotaExceededFault,
    ConfigurationError,
    QuotaExceededFault,
    ShellQuotaExceededFault,
    WSManFault,
)
from aiowsman.protocol import namespaces as ns
from aiowsman.testing import ShellFamily, WSManTestServer
from aiowsman.testing.families.psrp import PowerShellPlugin, RunspacePoolRuntime
from tests.psrp_support import pool_with_envelope

PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"


def _shells(server: WSManTestServer) -> ShellFamily:
    return server.host(0).family(ShellFamily)


def _plugin(server: WSManTestServer) -> PowerShellPlugin:
    plugin = _shells(server).powershell
    assert isinstance(plugin, PowerShellPlugin)
    return plugin


async def test_a_pool_is_a_shell_on_the_powershell_uri_while_it_is_open(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.runspace_pool() as pool:
        (shell,) = _shells(basic_server).open_shells()
        assert shell.resource_uri == PS_URI
        assert shell.shell_id == str(pool.pool_id).upper()
        assert (shell.input_streams, shell.output_streams) == (("stdin", "pr"), ("stdout",))
        assert pool.state == "Opened"
        runtime = shell.runtime
        assert isinstance(runtime, RunspacePoolRuntime)
        assert runtime.pool.state.name == "Opened"


async def test_leaving_the_pool_deletes_its_shell(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.runspace_pool() as pool:
        await pool.powershell().add_script("1").invoke()
    shells = _shells(basic_server)
    assert shells.open_shells() == []
    assert shells.deleted == [str(pool.pool_id).upper()]
    assert pool.state == "Closed"


async def test_an_error_inside_the_block_still_deletes_the_shell(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    with pytest.raises(KeyError):
        async with basic_session.runspace_pool() as pool:
            await pool.powershell().add_script("1").invoke()
            raise KeyError("mine")
    assert _shells(basic_server).open_shells() == []


async def test_cancelling_inside_the_block_still_deletes_the_shell(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    entered = asyncio.Event()

    async def work() -> None:
        async with basic_session.runspace_pool():
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.ensure_future(work())
    await asyncio.wait_for(entered.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _shells(basic_server).open_shells() == []


async def test_closing_the_session_closes_a_pool_left_open(
    basic_server: WSManTestServer,
) -> None:
    from tests.conftest import BASIC_OVER_HTTP

    session = AsyncSession(basic_server.endpoints[0], **BASIC_OVER_HTTP)
    pool = await session.runspace_pool().open()
    assert len(_shells(basic_server).open_shells()) == 1
    await session.aclose()
    assert _shells(basic_server).open_shells() == []
    assert pool.state == "Closed"


async def test_a_closed_pool_cannot_be_opened_again(basic_session: AsyncSession) -> None:
    pool = basic_session.runspace_pool()
    async with pool:
        pass
    with pytest.raises(ConfigurationError, match="closed"):
        await pool.open()


async def test_the_pool_tells_what_the_server_said_about_itself(
    basic_session: AsyncSession,
) -> None:
    async with basic_session.runspace_pool(min_runspaces=1, max_runspaces=3) as pool:
        table = pool.application_private_data["PSVersionTable"]
        assert str(table["PSRemotingProtocolVersion"]) == "2.3"
        assert (pool.min_runspaces, pool.max_runspaces) == (1, 3)


async def test_a_bad_pool_size_is_refused_before_anything_is_sent(
    basic_session: AsyncSession,
) -> None:
    with pytest.raises(ConfigurationError, match="min_runspaces"):
        basic_session.runspace_pool(min_runspaces=3, max_runspaces=2)


# -- configurations ------------------------------------------------------------------------


async def test_a_configuration_name_picks_the_endpoint(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    _plugin(basic_server).configurations["jea.maintenance"] = frozenset({"get-service"})
    async with basic_session.runspace_pool(configuration_name="JEA.Maintenance") as pool:
        (shell,) = _shells(basic_server).open_shells()
        assert shell.resource_uri == "http://schemas.microsoft.com/powershell/JEA.Maintenance"
        (svc,) = await pool.powershell().add_command("Get-Service").add_argument("WinRM").invoke()
        assert svc.Name == "WinRM"


async def test_a_restricted_configuration_refuses_scripts(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    from aiowsman.errors import PipelineFailedError

    _plugin(basic_server).configurations["jea"] = frozenset({"get-service"})
    async with basic_session.runspace_pool(configuration_name="JEA") as pool:
        with pytest.raises(PipelineFailedError, match="no-language mode"):
            await pool.powershell().add_script("Get-Service").invoke()
        with pytest.raises(PipelineFailedError, match="not recognized"):
            await pool.powershell().add_command("Get-Process").invoke()


async def test_an_unknown_configuration_is_a_fault_and_leaves_nothing(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    with pytest.raises(WSManFault) as info:
        async with basic_session.runspace_pool(configuration_name="Nope"):
            pass
    assert info.value.subcode == "DestinationUnreachable"
    assert info.value.operation == "Create"
    assert _shells(basic_server).open_shells() == []


async def test_a_configuration_name_with_a_space_is_refused(basic_session: AsyncSession) -> None:
    with pytest.raises(ConfigurationError, match="configuration_name"):
        await basic_session.runspace_pool(configuration_name="two words").open()


# -- quotas --------------------------------------------------------------------------------


async def test_max_shells_per_user_of_the_plugin_is_a_typed_error(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    _plugin(basic_server).max_shells_per_user = 2
    async with basic_session.runspace_pool(), basic_session.runspace_pool():
        with pytest.raises(ShellQuotaExceededFault) as info:
            await basic_session.runspace_pool().open()
        assert isinstance(info.value, QuotaExceededFault)
        assert info.value.wsman_code == ns.CODE_QUOTA_MAX_SHELLS
        assert len(_shells(basic_server).open_shells()) == 2
    assert _shells(basic_server).open_shells() == []


async def test_max_concurrent_commands_per_shell_is_a_typed_error(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    _shells(basic_server).max_commands_per_shell = 1
    async with basic_session.runspace_pool(max_runspaces=2) as pool:
        stream = pool.powershell().add_script("'first'; Start-Sleep 30").stream()
        assert await anext(stream) == "first"  # one pipeline runs (its command is live)
        with pytest.raises(CommandQuotaExceededFault) as info:
            await pool.powershell().add_script("2").invoke()
        assert info.value.wsman_code == ns.CODE_QUOTA_MAX_COMMANDS_PER_SHELL
        await stream.aclose()
        # The first pipeline was stopped and terminated: room again.
        assert await pool.powershell().add_script("3").invoke() == [3]


async def test_finished_pipelines_are_terminated_so_a_pool_outlives_the_command_quota(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    shells = _shells(basic_server)
    shells.max_commands_per_shell = 1
    async with basic_session.runspace_pool() as pool:
        for i in range(10):
            assert await pool.powershell().add_script(f"{i}").invoke() == [i]
            (shell,) = shells.open_shells()
            assert len(shell.commands) <= 1  # the one just finished, at most
    # Each one is terminated with the next Command; the last by the Delete.
    terminates = [c for _, _, c in shells.signals if c == ns.SIGNAL_TERMINATE]
    assert len(terminates) == 9
    assert shells.open_shells() == []


async def test_invoke_command_on_a_host_is_five_requests(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    stats = basic_server.host(0).stats
    before = stats.requests
    await basic_session.invoke_command("1")
    await basic_session.aclose()
    # Create, Receive (the pool opened), Command, Receive (the output), Delete.
    assert stats.requests - before == 5


# -- envelopes, idle pools ---------------------------------------------------------------------


async def test_a_script_larger_than_an_envelope_is_sent_in_fragments(
    basic_server: WSManTestServer,
) -> None:
    # 40 KB of script in 8 KB envelopes.
    async with pool_with_envelope(basic_server, 8192) as pool:
        out = await pool.powershell().add_script("'" + "x" * 40_000 + "'; 7").invoke()
        assert out == ["x" * 40_000, 7]
    assert basic_server.host(0).stats.requests > 8  # the Command and several Sends carried it


async def test_an_object_larger_than_an_envelope_comes_back_whole(
    basic_server: WSManTestServer,
) -> None:
    # The server's 32 KiB fragments do not fit 8 KiB envelopes: they come in
    # pieces over several rsp:Stream elements and Receives.
    async with pool_with_envelope(basic_server, 8192) as pool:
        out = await pool.powershell().add_command("Write-Output").invoke(input=["z" * 100_000])
        assert out == ["z" * 100_000]


async def test_keepalive_keeps_an_idle_pool_from_being_reaped(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    import asyncio

    shells = _shells(basic_server)
    async with basic_session.runspace_pool(idle_timeout=1.0, keepalive=0.2) as pool:
        await pool.powershell().add_script("$kept = 'yes'").invoke()
        await asyncio.sleep(1.6)  # idle for longer than the shell's IdleTimeOut
        assert shells.expired == []
        assert await pool.powershell().add_script("$kept").invoke() == ["yes"]


async def test_a_pool_the_server_dropped_is_not_silently_replaced(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    from aiowsman.errors import ShellNotFoundFault

    shells = _shells(basic_server)
    async with basic_session.runspace_pool() as pool:
        await pool.powershell().add_script("$x = 1").invoke()
        for shell in shells.open_shells():  # reaped, as its idle timeout would
            shell.idle_timeout = 0
        shells.expire_idle()
        with pytest.raises(ShellNotFoundFault):
            await pool.powershell().add_script("$x").invoke()
    assert len(shells.created) == 1  # its variables are gone: no new pool behind your back


async def test_a_pool_that_never_opens_times_out_and_leaves_no_shell(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    from aiowsman.errors import TimeoutError as WSManTimeoutError
    from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo

    def no_answer(info: RequestInfo) -> Injection | None:
        # Every Receive of the pool: "no output yet" (its opening never comes).
        if info.operation == "Receive":
            return Injection(InjectionKind.TIMED_OUT)
        return None

    basic_server.host(0).behaviour = HostBehaviour(inject=no_answer)
    with pytest.raises(WSManTimeoutError, match="did not open within 1s"):
        await basic_session.runspace_pool(open_timeout=1).open()
    assert _shells(basic_server).open_shells() == []
    assert len(_shells(basic_server).deleted) == 1
