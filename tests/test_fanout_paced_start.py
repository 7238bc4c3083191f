"""The runner's paced start: the first ``concurrency`` hosts start one interval apart.

Started in one event-loop turn, a run's hosts stay in step (every answer of a
wave arrives at once); :data:`aiowsman.fanout.START_INTERVAL` spreads the
first ``concurrency`` of them out. These tests use plain async callables as
sessions (no network) and a larger interval, so that what is checked is the
order of events the pacing guarantees, never how fast anything ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiowsman import fanout
from aiowsman.fanout import run


@contextlib.asynccontextmanager
async def bare_session(host: str) -> AsyncIterator[str]:
    yield host


class Starts:
    """The operation: notes the loop time each host started at."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    async def __call__(self, host: str) -> str:
        self.at[host] = asyncio.get_running_loop().time()
        return host


async def _run(hosts: list[str], op: Any, concurrency: int) -> list[str]:
    async with asyncio.timeout(30):
        results = await run(
            hosts, op, concurrency=concurrency, session_factory=bare_session
        ).collect()
    assert all(r.ok for r in results)
    return sorted(r.value for r in results)


async def test_the_first_hosts_start_one_interval_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "START_INTERVAL", 0.02)
    hosts = [f"h{i}" for i in range(5)]
    op = Starts()
    assert await _run(hosts, op, concurrency=5) == hosts
    first = op.at["h0"]
    for i, host in enumerate(hosts):
        # asyncio may fire a timer up to its clock resolution early.
        assert op.at[host] - first >= i * 0.02 - 0.001, host


async def test_only_the_first_concurrency_hosts_are_paced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the ramp is over, a host starts as soon as a slot is free: no more waits."""
    monkeypatch.setattr(fanout, "START_INTERVAL", 0.01)
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def noting_sleep(delay: float, result: Any = None) -> Any:
        waits.append(delay)
        return await real_sleep(delay, result)

    # The runner's own asyncio only: the loop and the test keep the real one.
    monkeypatch.setattr(
        fanout, "asyncio", types.SimpleNamespace(**{**vars(asyncio), "sleep": noting_sleep})
    )
    hosts = [f"h{i}" for i in range(8)]
    assert await _run(hosts, Starts(), concurrency=3) == hosts
    # Hosts 1 and 2 wait for their turn (host 0 starts at once); hosts 3-7
    # take the slots the first ones freed, without waiting.
    assert len(waits) == 2
    assert all(0 < w <= 0.02 for w in waits)


async def test_a_run_over_fewer_hosts_than_concurrency_does_not_wait_for_unused_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only hosts are paced, not slots: 2 hosts at concurrency 5,000 wait one interval,
    not the 100 s that pacing every slot would take (the run is bounded at 30 s)."""
    monkeypatch.setattr(fanout, "START_INTERVAL", 0.02)
    op = Starts()
    assert await _run(["a", "b"], op, concurrency=5_000) == ["a", "b"]
    assert op.at["b"] - op.at["a"] >= 0.02 - 0.001


async def test_the_pacing_wait_does_not_count_against_the_host_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host's deadline starts when the host does: the last of the first hosts
    waits 0.4 s for its turn and still has its whole 0.25 s deadline."""
    monkeypatch.setattr(fanout, "START_INTERVAL", 0.1)

    async def takes_a_while(host: str) -> str:
        await asyncio.sleep(0.05)
        return host

    hosts = [f"h{i}" for i in range(5)]
    async with asyncio.timeout(30):
        results = await run(
            hosts, takes_a_while, concurrency=5, deadline=0.25, session_factory=bare_session
        ).collect()
    assert sorted((r.host, r.ok, r.error_class) for r in results) == [
        (h, True, None) for h in hosts
    ]
