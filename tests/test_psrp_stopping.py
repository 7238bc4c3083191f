"""Stopping PowerShell pipelines: deadlines, cancellation, leaving early -- checked on the server.

A pipeline that is not let run to its end is stopped on the server (Signal
``powershell/signal/crtl_c``, its end awaited, then Terminate), and the pool
stays usable. The server's record of each pipeline says how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from aiowsman import AsyncSession
from aiowsman.errors import CommandTimeoutError
from aiowsman.protocol import namespaces as ns
from aiowsman.psrp import RunspacePool
from aiowsman.testing import ShellFamily, WSManTestServer
from aiowsman.testing.families.psrp import PipelineRecord
from tests.psrp_support import BOUND, runtime, until


def _only(server: WSManTestServer, text: str) -> PipelineRecord:
    (record,) = [r for r in runtime(server).pipelines.values() if r.commands == [text]]
    return record


def _running(server: WSManTestServer) -> bool:
    return any(r.state == "Running" for r in runtime(server).pipelines.values())


def _signals(server: WSManTestServer, record: PipelineRecord) -> list[str]:
    command_id = str(record.pipeline_id).upper()
    return [c for _, cid, c in server.host(0).family(ShellFamily).signals if cid == command_id]


def _assert_stopped(server: WSManTestServer, record: PipelineRecord) -> None:
    assert (record.state, record.stop_requested) == ("Stopped", True)
    assert _signals(server, record) == [ns.SIGNAL_PS_CTRL_C, ns.SIGNAL_TERMINATE]
    (shell,) = server.host(0).family(ShellFamily).open_shells()
    assert shell.commands == {}  # terminated: nothing left running


# -- deadlines ------------------------------------------------------------------------------


async def test_a_deadline_stops_a_long_pipeline_instead_of_hanging(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    ps = pool.powershell().add_script("Start-Sleep 600")
    with pytest.raises(CommandTimeoutError, match="2s deadline; it was stopped"):
        await asyncio.wait_for(ps.invoke(timeout=2), BOUND)
    _assert_stopped(basic_server, _only(basic_server, "Start-Sleep 600"))
    assert ps.state == "Stopped"


async def test_a_timeout_keeps_the_output_written_before_it(pool: RunspacePool) -> None:
    with pytest.raises(CommandTimeoutError) as info:
        await pool.powershell().add_script("'early'; Start-Sleep 600").invoke(timeout=1)
    assert info.value.output == ["early"]


async def test_the_pool_runs_pipelines_after_one_was_stopped(pool: RunspacePool) -> None:
    with pytest.raises(CommandTimeoutError):
        await pool.powershell().add_script("$x = 1; Start-Sleep 600").invoke(timeout=1)
    assert await pool.powershell().add_script("$x + 1").invoke() == [2]


async def test_the_pools_command_timeout_is_the_default_deadline(
    basic_session: AsyncSession,
) -> None:
    async with basic_session.runspace_pool(command_timeout=1) as pool:
        with pytest.raises(CommandTimeoutError, match="1s deadline"):
            await pool.powershell().add_script("Start-Sleep 600").invoke()


async def test_a_stream_ends_with_the_timeout_after_its_objects(pool: RunspacePool) -> None:
    seen = []
    with pytest.raises(CommandTimeoutError):
        async for value in pool.powershell().add_script("1; 2; Start-Sleep 600").stream(timeout=1):
            seen.append(value)
    assert seen == [1, 2]


# -- cancellation ---------------------------------------------------------------------------


async def test_cancelling_invoke_stops_the_pipeline_on_the_server(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    task = asyncio.ensure_future(pool.powershell().add_script("Start-Sleep 600").invoke())
    await until(lambda: _running(basic_server))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, BOUND)
    _assert_stopped(basic_server, _only(basic_server, "Start-Sleep 600"))
    assert await pool.powershell().add_script("'still here'").invoke() == ["still here"]


async def test_cancelling_a_stream_consumer_stops_the_pipeline_on_the_server(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    got_one = asyncio.Event()

    async def consume() -> None:
        async for _ in pool.powershell().add_script("'a'; Start-Sleep 600").stream():
            got_one.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(got_one.wait(), BOUND)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, BOUND)
    _assert_stopped(basic_server, _only(basic_server, "'a'; Start-Sleep 600"))


async def test_leaving_a_stream_early_stops_the_pipeline(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    ps = pool.powershell().add_script("'a'; 'b'; Start-Sleep 600")
    async with contextlib.aclosing(ps.stream()) as stream:
        async for value in stream:
            assert value == "a"
            break
    _assert_stopped(basic_server, _only(basic_server, "'a'; 'b'; Start-Sleep 600"))


async def test_an_error_in_the_loop_body_stops_the_pipeline(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    ps = pool.powershell().add_script("'a'; Start-Sleep 600")
    with pytest.raises(ZeroDivisionError):
        async with contextlib.aclosing(ps.stream()) as stream:
            async for _ in stream:
                _ = 1 / 0
    _assert_stopped(basic_server, _only(basic_server, "'a'; Start-Sleep 600"))


async def test_a_plain_break_also_stops_the_pipeline_soon(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    async for _ in pool.powershell().add_script("'a'; Start-Sleep 600").stream():
        break
    # The generator is closed by asyncio's finaliser, a moment later.
    record = _only(basic_server, "'a'; Start-Sleep 600")
    await until(lambda: record.state == "Stopped" and not runtime(basic_server).shell.commands)
    _assert_stopped(basic_server, record)


async def test_stop_from_another_task_stops_the_pipeline(
    pool: RunspacePool, basic_server: WSManTestServer
) -> None:
    ps = pool.powershell().add_script("Start-Sleep 600")
    task = asyncio.ensure_future(ps.invoke())
    await until(lambda: _running(basic_server))
    await ps.stop()
    with pytest.raises(Exception) as info:
        await asyncio.wait_for(task, BOUND)
    assert "stopped" in str(info.value)
    _assert_stopped(basic_server, _only(basic_server, "Start-Sleep 600"))


async def test_closing_the_pool_stops_a_running_pipeline_and_deletes_the_shell(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    shells = basic_server.host(0).family(ShellFamily)
    async with basic_session.runspace_pool() as pool:
        task = asyncio.ensure_future(pool.powershell().add_script("Start-Sleep 600").invoke())
        await until(lambda: _running(basic_server))
        record = _only(basic_server, "Start-Sleep 600")
    assert shells.open_shells() == []
    assert record.state == "Stopped"
    assert _signals(basic_server, record)[0] == ns.SIGNAL_PS_CTRL_C
    with pytest.raises(BaseException):  # noqa: B017 - its shell is gone: any failure
        await asyncio.wait_for(task, BOUND)


async def test_closing_the_session_mid_pipeline_leaves_no_shell(
    basic_server: WSManTestServer,
) -> None:
    from tests.conftest import BASIC_OVER_HTTP

    session = AsyncSession(basic_server.endpoints[0], **BASIC_OVER_HTTP)
    pool = await session.runspace_pool().open()
    task = asyncio.ensure_future(pool.powershell().add_script("Start-Sleep 600").invoke())
    await until(lambda: _running(basic_server))
    await asyncio.wait_for(session.aclose(), BOUND)
    assert basic_server.host(0).family(ShellFamily).open_shells() == []
    with pytest.raises(BaseException):  # noqa: B017 - the session is closed: any failure
        await asyncio.wait_for(task, BOUND)
