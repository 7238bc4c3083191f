"""Legal but expensive responses cannot stall a fan-out past its deadlines.

Parsing is CPU work; on the event loop it delays every other host, and no
timer can fire while it runs. Responses above
:data:`aiowsman.session.PARSE_OFFLOAD_BYTES` are parsed in a thread pool, and
the runner reports a host whose operation finished only after its deadline
as a timeout, never as a late success.

No test here times speed: the bounds are the runner's own contract
(``deadline + close_grace``) with generous slack, and a loop-lag bound far
above what a responsive loop shows and far below what parsing on it costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import aiowsman.session
from aiowsman import AsyncSession
from aiowsman.fanout import HostResult, run
from aiowsman.testing import HostBehaviour, Injection, InjectionKind, WSManTestServer
from tests.conftest import PASSWORD, USER

OS = "wmicimv2/Win32_OperatingSystem"
HEAVY = HostBehaviour(always=Injection(InjectionKind.HEAVY_BODY, size=1_050_000))


@contextlib.asynccontextmanager
async def blocking_session(host: str) -> AsyncIterator[str]:
    yield host


def burn(seconds: float) -> None:
    """CPU work on the loop: no timer can fire meanwhile."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def blocks_the_loop_then_returns(host: str) -> str:
    burn(0.3)
    return "done"


async def blocks_the_loop_then_fails(host: str) -> str:
    burn(0.3)
    raise ValueError("failed, late")


@pytest.mark.parametrize("operation", [blocks_the_loop_then_returns, blocks_the_loop_then_fails])
async def test_a_result_that_comes_after_the_deadline_is_a_timeout(
    operation: Callable[[str], Any],
) -> None:
    results = await run(
        ["h1"], operation, session_factory=blocking_session, deadline=0.1, retries=0
    ).collect()
    (result,) = results
    assert not result.ok and result.error_class == "timeout"
    assert result.elapsed > 0.1
    assert "deadline of 0.1s passed" in (result.message or "")


async def test_a_result_within_the_deadline_is_not_touched() -> None:
    async def quick(host: str) -> str:
        return "done"

    (result,) = await run(["h1"], quick, session_factory=blocking_session, deadline=5).collect()
    assert result.ok and result.value == "done"


async def test_a_large_response_is_parsed_off_the_event_loop(
    make_server: Callable[..., WSManTestServer],
    make_session: Callable[..., AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[str] = []
    real = aiowsman.session._read_response

    def spy(*args: Any) -> Any:  # observes where the real parse runs
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(aiowsman.session, "_read_response", spy)
    async with make_server(hosts=2, behaviours={1: HEAVY}) as server:
        async with make_session(server, 0) as small:
            await small.get(OS)
        async with make_session(server, 1) as large:
            item = await large.get(OS)
    assert item["Caption"]
    loop_thread = threading.current_thread().name
    assert threads[0] == loop_thread  # a small body: parsed in place
    assert threads[1].startswith("aiowsman-parse")  # a 1 MB body: in the pool


async def three_gets(session: AsyncSession) -> bool:
    for _ in range(3):
        await session.get(OS)
    return True


class LoopLag:
    """The longest the event loop took to come back to a 5 ms ticker."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.005)
            now = loop.time()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_a_fan_out_of_large_bodies_keeps_every_host_within_its_deadline() -> None:
    heavy, healthy = 40, 20
    hosts = heavy + healthy
    deadline, grace = 3.0, 0.5
    behaviours = dict.fromkeys(range(heavy), HEAVY)  # hosts 0..39 send ~1 MB bodies
    async with (
        WSManTestServer(hosts=hosts, behaviours=behaviours, users={USER: PASSWORD}) as server,
        LoopLag() as lag,
    ):
        results: list[HostResult[bool]] = await run(
            server.endpoints,
            three_gets,
            concurrency=hosts,
            deadline=deadline,
            close_grace=grace,
            retries=0,
            auth="basic",
            username=USER,
            password=PASSWORD,
            allow_unencrypted=True,
            timeout=deadline,
        ).collect()
    by_host = {r.host: r for r in results}
    assert len(results) == len(by_host) == hosts  # exactly one record per host
    for r in results:
        assert r.elapsed <= deadline + grace + 0.5, (r.host, r.elapsed, r.message)
        assert not (r.ok and r.elapsed > deadline), (r.host, r.elapsed)
        assert r.ok or r.error_class == "timeout", (r.host, r.message)
    for i in range(heavy, hosts):
        assert by_host[server.endpoints[i]].ok  # small answers are never held up
    # Parsing ~90 MB of tiny elements on the loop stalls it for seconds; off it,
    # the loop answers a 5 ms ticker within a fraction of that.
    assert lag.worst < 0.75, lag.worst
