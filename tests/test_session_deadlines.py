"""Concurrency, cancellation and deadlines of AsyncSession against the real test server."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Callable

import aiohttp
import pytest

from aiowsman import AsyncSession, OperationTimedOutFault
from aiowsman import TimeoutError as WSManTimeoutError
from aiowsman.protocol.envelope import RequestOptions
from aiowsman.session import operation_timeout_for
from aiowsman.testing import WSManTestServer
from tests.conftest import black_hole, slow

SERVICE = "wmicimv2/Win32_Service"
NAMES = ["WinRM", "Spooler", "W32Time", "EventLog", "Dnscache", "LanmanServer"]


async def test_many_operations_run_concurrently_on_one_session(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: slow("Get", 0.2)}) as server,
        make_session(server, max_channels=4) as session,
    ):
        names = NAMES * 2
        items = await asyncio.gather(*(session.get(SERVICE, Name=n) for n in names))
        assert [i["Name"] for i in items] == names
        stats = server.host(0).stats
        assert 2 <= stats.max_in_flight <= 4


async def test_a_cancelled_operation_leaves_the_session_usable(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Invoke")}) as server,
        make_session(server) as session,
    ):
        stuck = asyncio.ensure_future(session.invoke("StopService", f"{SERVICE}?Name=WinRM"))
        for _ in range(200):  # bounded wait until the server holds the request
            if server.host(0).stats.by_operation["Invoke"]:
                break
            await asyncio.sleep(0.01)
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert (await session.get(SERVICE, Name="WinRM"))["Name"] == "WinRM"


async def test_the_deadline_raises_timeout_error_naming_host_and_operation(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Get")}) as server,
        make_session(server, timeout=0.5) as session,
    ):
        with pytest.raises(WSManTimeoutError) as info:
            await session.get(SERVICE, Name="WinRM")
        err = info.value
        assert isinstance(err, builtins.TimeoutError)
        assert err.operation == "Get"
        assert err.host == session.host
        assert session.host in str(err) and "Get" in str(err)


async def test_the_server_gives_up_first_thanks_to_the_derived_operation_timeout(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    # The answer would take longer than the session's deadline, but the
    # OperationTimeout sent is shorter than the deadline, so the server
    # answers w:TimedOut first and the caller learns why.
    async with (
        make_server(behaviours={0: slow("Get", 30.0)}) as server,
        make_session(server, timeout=2.0) as session,
    ):
        with pytest.raises(OperationTimedOutFault) as info:
            await session.get(SERVICE, Name="WinRM")
        assert info.value.operation == "Get"
        assert session.error is info.value


@pytest.mark.parametrize(
    ("timeout", "expected"), [(60.0, 55.0), (10.0, 9.0), (2.0, 1.5), (0.6, 0.3), (200.0, 195.0)]
)
def test_operation_timeout_is_the_deadline_minus_a_bounded_margin(
    timeout: float, expected: float
) -> None:
    assert operation_timeout_for(timeout) == pytest.approx(expected)


def test_changing_timeout_changes_the_operation_timeout_sent() -> None:
    session = AsyncSession("127.0.0.1", auth="none", timeout=60)
    assert isinstance(session.options, RequestOptions)
    assert session.options.operation_timeout == 55.0
    session.timeout = 10
    assert session.timeout == 10.0
    assert session.options.operation_timeout == 9.0


@pytest.mark.parametrize("bad", [0, -1.0])
def test_a_non_positive_timeout_is_refused(bad: float) -> None:
    from aiowsman import ConfigurationError

    with pytest.raises(ConfigurationError):
        AsyncSession("127.0.0.1", auth="none", timeout=bad)


async def test_each_pull_has_its_own_deadline(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: black_hole("Pull")}) as server,
        make_session(server, timeout=0.5) as session,
    ):
        async with session.enumerate(SERVICE, batch_items=10) as services:
            with pytest.raises(WSManTimeoutError) as info:
                async for _ in services:
                    pass
        assert info.value.operation == "Pull"


async def test_max_channels_bounds_requests_in_flight_on_a_shared_client(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with (
        make_server(behaviours={0: slow("Get", 0.1)}) as server,
        aiohttp.ClientSession() as shared,
        make_session(server, client_session=shared, max_channels=2) as session,
    ):
        await asyncio.gather(*(session.get(SERVICE, Name=n) for n in NAMES))
        assert server.host(0).stats.max_in_flight == 2
