"""Resource hygiene of a session: no descriptor, task or memory outlives the work.

Cancelled and failed operations release their sockets; memory does not grow
with repeated failures; a session collected without being closed says so
with a ResourceWarning.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import warnings
from collections.abc import Callable

import pytest

from aiowsman import AsyncSession, ConfigurationError, WSManError
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, RequestInfo, WSManTestServer
from tests.conftest import PASSWORD
from tests.test_hygiene_probe import ResourceProbe

K = InjectionKind
SERVICE = "wmicimv2/Win32_Service"


def black_hole_gets(arrived: list[asyncio.Event]) -> HostBehaviour:
    """Black-hole every Get; the n-th Get sets ``arrived[n - 1]`` when it arrives."""
    count = 0

    def inject(info: RequestInfo) -> Injection | None:
        nonlocal count
        if info.operation != "Get":
            return None
        count += 1
        if count <= len(arrived):
            arrived[count - 1].set()
        return Injection(K.BLACK_HOLE)

    return HostBehaviour(inject=inject)


async def test_a_cancelled_operation_leaves_no_socket_or_task_and_the_session_works(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    arrived = [asyncio.Event() for _ in range(5)]
    async with (
        ResourceProbe(),
        make_server(behaviours={0: black_hole_gets(arrived)}) as server,
        make_session(server, timeout=30) as session,
    ):
        tasks = [asyncio.create_task(session.get(SERVICE, Name="WinRM")) for _ in range(5)]
        async with asyncio.timeout(5):
            await arrived[-1].wait()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)
        assert (await session.identify()).product_vendor


async def test_closing_a_session_ends_its_in_flight_operations_promptly(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    arrived = [asyncio.Event()]
    async with ResourceProbe(), make_server(behaviours={0: black_hole_gets(arrived)}) as server:
        session = make_session(server, timeout=60)
        task = asyncio.create_task(session.get(SERVICE, Name="WinRM"))
        async with asyncio.timeout(5):
            await arrived[0].wait()
        await session.aclose()
        # Not the 60 s deadline: closing aborted the exchange.
        async with asyncio.timeout(5) as bound:
            with pytest.raises(WSManError) as info:
                await task
        assert not bound.expired()
        assert isinstance(info.value, ConfigurationError), repr(info.value)
        assert (info.value.host, info.value.operation) == (session.host, "Get")


async def test_repeated_failures_do_not_grow_memory(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    kinds = [
        Injection(K.GARBAGE),
        Injection(K.RESET_MID_RESPONSE),
        Injection(K.HTTP_503, retry_after=60),
        Injection(K.QUOTA),
        Injection(K.XXE),
        Injection(K.BILLION_LAUGHS),
        Injection(K.OVERSIZED, size=2_000_000),
        Injection(K.WRONG_RELATES_TO),
        Injection(K.HTTP_500),
    ]

    def inject(info: RequestInfo) -> Injection | None:
        return kinds[info.number % len(kinds)] if info.operation == "Get" else None

    async def round_of_failures(session: AsyncSession) -> None:
        for _ in kinds:
            with pytest.raises(WSManError):
                await session.get(SERVICE, Name="WinRM")

    async with (
        make_server(behaviours={0: HostBehaviour(inject=inject)}) as server,
        make_session(server, retries=0) as session,
    ):
        for _ in range(3):  # warm-up: caches, lazily built parsers, pools
            await round_of_failures(session)
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            for _ in range(20):
                await round_of_failures(session)
            gc.collect()
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # 180 failed exchanges: a leak of 2 KB or more each would exceed this.
    assert after - before < 360_000


async def test_a_used_session_collected_unclosed_warns_without_credentials(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server() as server:
        session = make_session(server)
        await session.identify()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del session
            gc.collect()
    resource = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert len(resource) == 1
    assert "unclosed" in str(resource[0].message)
    assert PASSWORD not in str(resource[0].message)


async def test_a_session_that_only_failed_to_connect_also_warns(
    make_server: Callable[..., WSManTestServer], make_session: Callable[..., AsyncSession]
) -> None:
    async with make_server(behaviours={0: HostBehaviour(down=True)}) as server:
        session = make_session(server, retries=0)
        with pytest.raises(WSManError):
            await session.identify()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del session
            gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_a_session_never_used_holds_nothing_and_does_not_warn() -> None:
    gc.collect()  # other tests' garbage is not this test's business
    session = AsyncSession("http://127.0.0.1:9/wsman", auth="none")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del session
        gc.collect()
    assert not [w for w in caught if "127.0.0.1:9/" in str(w.message)]
