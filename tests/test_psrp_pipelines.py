"""PowerShell remoting pipelines end to end: objects, state, streams, errors, input, the host.

A runspace pool of aiowsman.psrp against the test server's PowerShell
plug-in (psrpcore's server side running the documented command table of
aiowsman.testing.families.psrp); what matters on the server is checked there.
"""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from aiowsman import AsyncSession
from aiowsman.errors import ConfigurationError, PipelineFailedError
from aiowsman.psrp import NON_INTERACTIVE_MESSAGE, PSHost, RunspacePool
from aiowsman.testing import ShellFamily, WSManTestServer
from tests.psrp_support import pool_with_envelope, runtime, until

# -- objects ------------------------------------------------------------------------------


async def test_objects_read_their_properties_by_attribute_and_by_name(pool: RunspacePool) -> None:
    ps = pool.powershell().add_command("Get-Process").add_parameter("Name", "svchost")
    procs = await ps.invoke()
    assert [p.Name for p in procs] == ["svchost"] * 3
    assert all(isinstance(p.Id, int) and p["Id"] == p.Id for p in procs)
    assert str(procs[0]) == "System.Diagnostics.Process (svchost)"


async def test_primitives_come_back_as_python_types(pool: RunspacePool) -> None:
    out = await pool.powershell().add_script("1; 'two'; $true; Get-Date").invoke()
    assert out[:3] == [1, "two", True]
    assert isinstance(out[1], str) and isinstance(out[0], int) and out[2] is True
    assert isinstance(out[3], datetime.datetime)


async def test_an_enum_reads_as_its_name_and_its_value(pool: RunspacePool) -> None:
    (svc,) = await pool.powershell().add_script("Get-Service WinRM").invoke()
    assert (svc.Name, str(svc.Status), svc.Status) == ("WinRM", "Running", 4)


async def test_stream_yields_objects_before_the_pipeline_ends(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("'first'; Start-Sleep 30; 'never'")
    seen = []
    async for value in ps.stream():
        seen.append(value)
        break  # the pipeline is still sleeping: the first object came on its own
    assert seen == ["first"]


async def test_select_object_picks_properties_of_objects(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("Get-Process | Select-Object -First 2 -Property Name, Id")
    rows = await ps.invoke()
    assert len(rows) == 2
    assert [p.name for p in rows[0].PSObject.extended_properties] == ["Name", "Id"]
    assert isinstance(rows[0].Name, str) and isinstance(rows[0].Id, int)


# -- state ----------------------------------------------------------------------------------


async def test_variables_persist_across_pipelines_of_a_pool(pool: RunspacePool) -> None:
    assert await pool.powershell().add_script("$x = 5").invoke() == []
    assert await pool.powershell().add_script("$x * 2").invoke() == [10]


async def test_pools_do_not_share_variables(basic_session: AsyncSession) -> None:
    async with basic_session.runspace_pool() as one, basic_session.runspace_pool() as two:
        await one.powershell().add_script("$x = 5").invoke()
        assert await two.powershell().add_script("$x * 2").invoke() == [0]


async def test_a_powershell_object_can_be_run_again(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("'again'")
    assert await ps.invoke() == ["again"]
    assert await ps.invoke() == ["again"]
    assert ps.state == "Completed"


async def test_pipelines_run_side_by_side_up_to_max_runspaces(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.runspace_pool(max_runspaces=2) as pool:
        tasks = [
            asyncio.ensure_future(pool.powershell().add_script(f"Start-Sleep 600; {i}").invoke())
            for i in range(3)
        ]
        state = runtime(basic_server)
        await until(lambda: [r.state for r in state.pipelines.values()].count("Running") == 2)
        states = sorted(r.state for r in state.pipelines.values())
        # Two runspaces: two run at once, in different runspaces; the third waits.
        assert states == ["NotStarted", "Running", "Running"]
        running = [r.runspace for r in state.pipelines.values() if r.state == "Running"]
        assert sorted(running) == [0, 1]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert basic_server.host(0).family(ShellFamily).open_shells() == []


# -- streams --------------------------------------------------------------------------------


async def test_streams_are_kept_apart(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script(
        "$VerbosePreference = 'Continue'; $DebugPreference = 'Continue'\n"
        "Write-Error 'boom'; Write-Warning 'w'; Write-Verbose 'v'; Write-Debug 'd'\n"
        "Write-Information 'i'; Write-Progress -Activity 'act' -Status 'half' -PercentComplete 50\n"
        "1"
    )
    assert await ps.invoke() == [1]
    streams = ps.streams
    assert [e.message for e in streams.error] == ["boom"]
    assert (streams.warning, streams.verbose, streams.debug) == (["w"], ["v"], ["d"])
    assert [i.message for i in streams.information] == ["i"]
    assert [(p.activity, p.status, p.percent_complete) for p in streams.progress] == [
        ("act", "half", 50)
    ]


async def test_write_host_is_an_information_record_tagged_pshost(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("Write-Host 'hello'")
    await ps.invoke()
    (record,) = ps.streams.information
    assert (record.message, record.tags, record.source) == ("hello", ["PSHOST"], "Write-Host")


# -- errors ---------------------------------------------------------------------------------


async def test_an_error_record_has_message_category_and_script_position(
    pool: RunspacePool,
) -> None:
    ps = pool.powershell().add_script("'one'\n  Write-Error 'disk full'")
    await ps.invoke()
    (error,) = ps.streams.error
    assert error.message == "disk full"
    assert error.category == "NotSpecified"
    assert error.category_info == "NotSpecified: (:) [Write-Error], WriteErrorException"
    assert error.fully_qualified_error_id == "Microsoft.PowerShell.Commands.WriteErrorException"
    assert error.exception_type == "Microsoft.PowerShell.Commands.WriteErrorException"
    assert (error.line_number, error.offset_in_line) == (2, 3)
    assert error.position_message == (
        "At line:2 char:3\n+   Write-Error 'disk full'\n+   ~~~~~~~~~~~~~~~~~~~~~~~"
    )
    assert ps.state == "Completed"


async def test_an_unknown_name_in_a_script_is_a_command_not_found_error(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("Get-Nothing; 'after'")
    assert await ps.invoke() == ["after"]
    (error,) = ps.streams.error
    assert error.message.startswith("The term 'Get-Nothing' is not recognized")
    assert (error.category, error.reason) == ("ObjectNotFound", "CommandNotFoundException")
    assert error.target_name == "Get-Nothing"


async def test_an_unknown_command_fails_the_pipeline_with_a_typed_error(
    pool: RunspacePool,
) -> None:
    with pytest.raises(PipelineFailedError) as info:
        await pool.powershell().add_command("Get-Nothing").invoke()
    err = info.value
    assert err.state == "Failed"
    assert err.record is not None and err.record.reason == "CommandNotFoundException"
    assert "Get-Nothing" in str(err) and err.host and err.operation


async def test_a_terminating_error_keeps_the_output_written_before_it(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("'before'; throw 'stop here'; 'after'")
    with pytest.raises(PipelineFailedError) as info:
        await ps.invoke()
    assert info.value.output == ["before"]
    assert info.value.record is not None and info.value.record.message == "stop here"
    assert ps.state == "Failed"


async def test_the_pool_still_works_after_a_failed_pipeline(pool: RunspacePool) -> None:
    with pytest.raises(PipelineFailedError):
        await pool.powershell().add_script("Write-Error 'x' -ErrorAction Stop").invoke()
    assert await pool.powershell().add_script("'alive'").invoke() == ["alive"]


# -- input ------------------------------------------------------------------------------------


async def test_input_objects_reach_the_script_as_input(pool: RunspacePool) -> None:
    out = await pool.powershell().add_script("$input").invoke(input=[1, "two", 3.5])
    assert out == [1, "two", 3.5]


async def test_write_output_echoes_its_pipeline_input(pool: RunspacePool) -> None:
    values: list[Any] = list(range(200))
    out = await pool.powershell().add_command("Write-Output").invoke(input=values)
    assert out == values


async def test_input_larger_than_an_envelope_goes_in_several_sends(
    basic_server: WSManTestServer,
) -> None:
    async with pool_with_envelope(basic_server, 16384) as pool:
        big = ["x" * 1000 for _ in range(60)]
        assert await pool.powershell().add_command("Write-Output").invoke(input=big) == big


# -- the host ---------------------------------------------------------------------------------


async def test_the_default_host_refuses_to_read_so_nothing_waits(pool: RunspacePool) -> None:
    ps = pool.powershell().add_script("$name = Read-Host; 'after'")
    assert await ps.invoke(timeout=30) == ["after"]
    (error,) = ps.streams.error
    assert error.message == NON_INTERACTIVE_MESSAGE


async def test_a_host_can_answer_a_prompt(basic_session: AsyncSession) -> None:
    class Answers(PSHost):
        def read_line(self) -> str:
            return "typed"

        def prompt(self, caption: str, message: str, fields: list[str]) -> dict[str, Any]:
            return {name: f"answer to {name}" for name in fields}

    async with basic_session.runspace_pool(host=Answers()) as pool:
        out = await pool.powershell().add_script("Read-Host; Read-Host -Prompt 'Name'").invoke()
    assert out == ["typed", "answer to Name"]


async def test_host_calls_are_answered_on_the_server(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    async with basic_session.runspace_pool() as pool:
        await pool.powershell().add_script("Read-Host -Prompt 'Who'").invoke()
        assert [m for m, _ in runtime(basic_server).host_calls] == ["Prompt"]


# -- secure strings -----------------------------------------------------------------------------


async def test_a_secure_string_travels_after_one_key_exchange(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    from psrpcore.types import PSSecureString

    secret = PSSecureString("s3cret")
    (back,) = await pool.powershell().add_command("Write-Output").add_argument(secret).invoke()
    assert isinstance(back, PSSecureString) and back.decrypt() == "s3cret"
    assert runtime(basic_server).key_exchanged
    # A second one needs no second exchange.
    (again,) = await pool.powershell().add_command("Write-Output").add_argument(secret).invoke()
    assert again.decrypt() == "s3cret"


# -- building ------------------------------------------------------------------------------------


async def test_a_pipeline_needs_a_command(pool: RunspacePool) -> None:
    with pytest.raises(ConfigurationError, match="no command"):
        await pool.powershell().invoke()


async def test_a_parameter_needs_a_command_first(pool: RunspacePool) -> None:
    with pytest.raises(ConfigurationError, match="add a command"):
        pool.powershell().add_parameter("Name", "x")


async def test_statements_run_one_after_the_other(pool: RunspacePool) -> None:
    ps = (
        pool.powershell()
        .add_command("Write-Output")
        .add_argument("a")
        .add_statement()
        .add_command("Write-Output")
        .add_argument("b")
    )
    assert await ps.invoke() == ["a", "b"]


# -- the host's own methods ---------------------------------------------------------------------


def test_the_default_host_keeps_what_is_written_to_it() -> None:
    host = PSHost()
    host.call("Write1", ["partial "])
    host.call("WriteLine2", ["line"])
    host.call("WriteWarningLine", ["careful"])
    assert host.lines == ["partial line", "WARNING: careful"]


def test_the_default_host_reports_itself_and_refuses_prompts() -> None:
    from aiowsman.psrp import HostInteractionRefused

    host = PSHost()
    assert (host.call("GetName", []), str(host.call("GetVersion", []))) == ("aiowsman", "1.0")
    for method in ("ReadLine", "Prompt", "PromptForCredential1", "PromptForChoice"):
        with pytest.raises(HostInteractionRefused, match="NonInteractive"):
            host.call(method, ["caption", "message", [], 0])
    with pytest.raises(HostInteractionRefused, match="does not implement"):
        host.call("SetBufferContents1", [])
