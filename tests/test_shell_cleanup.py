"""The best-effort cleanup every shell and command leaves through (``aiowsman.shell.cleanup``).

A shell's Delete and a command's Terminate run as a task bounded by
``CLEANUP_TIMEOUT``: the caller's cancellation waits for it (the shell is
still deleted on the server), a second cancellation stops waiting, a
cleanup that hangs is abandoned at its bound, a WS-Man failure is ignored
and anything else reaches the caller.
"""

from __future__ import annotations

import asyncio

import pytest

from aiowsman import AsyncSession
from aiowsman.errors import WSManError
from aiowsman.shell import cleanup
from aiowsman.testing import Injection, InjectionKind, RequestInfo, ShellFamily, WSManTestServer
from tests.waiting import until


def _shells(server: WSManTestServer) -> ShellFamily:
    return server.host(0).family(ShellFamily)


async def test_a_caller_cancelled_during_the_delete_still_deletes_the_shell(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    deletes: list[str] = []

    def slow_delete(info: RequestInfo) -> Injection | None:
        if info.operation == "Delete":
            deletes.append(info.operation)
            return Injection(InjectionKind.LATENCY, delay=0.3)
        return None

    sh = basic_session.shell()
    await sh.open()
    basic_server.host(0).behaviour.inject = slow_delete
    closing = asyncio.create_task(sh.aclose())
    await until(lambda: bool(deletes))  # the Delete reached the server
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    # The cancellation was delivered only once the Delete had its answer.
    assert _shells(basic_server).open_shells() == []
    assert sh.shell_id in _shells(basic_server).deleted


async def test_a_second_cancellation_stops_waiting_and_the_cleanup_still_ends() -> None:
    started, release, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow() -> None:
        started.set()
        await release.wait()
        ended.set()

    waiting = asyncio.create_task(cleanup(slow(), bound=60.0))
    await started.wait()
    waiting.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()  # the first cancellation waits for the cleanup
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not ended.is_set()  # the caller stopped waiting before it ended
    release.set()
    async with asyncio.timeout(5):
        await ended.wait()


async def test_a_hanging_cleanup_is_abandoned_at_its_bound() -> None:
    stopped: list[str] = []

    async def hangs() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append("cancelled at the bound")

    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(5):
        await cleanup(hangs(), bound=0.05)  # returns, does not raise
    assert stopped == ["cancelled at the bound"]
    assert loop.time() - start < 4


async def test_a_wsman_failure_is_ignored_and_anything_else_reaches_the_caller() -> None:
    async def refused() -> None:
        raise WSManError("the Delete failed", host="h", operation="Delete")

    async def broken() -> None:
        raise RuntimeError("a bug")

    await cleanup(refused())  # logged, not raised
    with pytest.raises(RuntimeError, match="a bug"):
        await cleanup(broken())


async def test_a_finished_cleanup_leaves_no_timer_holding_it() -> None:
    loop = asyncio.get_running_loop()
    before = len(getattr(loop, "_scheduled", ()))
    done: list[int] = []

    async def quick() -> None:
        done.append(1)

    for _ in range(20):
        await cleanup(quick(), bound=3600.0)
    assert done == [1] * 20
    # Cancelled timers may linger in the heap until swept, but none is live.
    live = [h for h in getattr(loop, "_scheduled", ()) if not h.cancelled()]
    assert len(live) <= before


async def test_closing_the_shell_while_run_waits_ends_the_run_and_leaves_nothing(
    basic_session: AsyncSession, basic_server: WSManTestServer
) -> None:
    shells = _shells(basic_server)
    async with basic_session.shell() as sh:
        running = asyncio.create_task(sh.run("echo started & waitfor never"))
        await until(lambda: shells.live_commands() == 1)
        await sh.aclose()  # from another task than the one running the command
        async with asyncio.timeout(30):
            result = await running
    # Terminated before it finished: no exit code.
    assert result.exit_code is None
    assert shells.open_shells() == [] and shells.live_commands() == 0
    assert sh.shell_id in shells.deleted
