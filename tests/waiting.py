"""Waiting in tests for something to happen, not for time to pass.

A test that sleeps "long enough" for the other side to act passes on a quiet
machine and fails on a loaded one (CI). Tests wait on the condition itself,
bounded by :data:`BOUND` -- a hang guard, not a speed check: a loaded
machine only makes the wait longer, never the test wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: A bound for waits that must end (a hang guard, not a speed check).
BOUND = 30.0


async def until(condition: Callable[[], bool], within: float = BOUND) -> None:
    """Wait until ``condition()`` holds (polled; bounded by ``within`` seconds).

    Raises:
        TimeoutError: the condition did not hold within the bound.
    """
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - server state has no event to wait on
            await asyncio.sleep(0.01)
