"""Shared by the PowerShell remoting tests: looks at the server's side (the ``pool``
fixture is in conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiowsman import AsyncSession
from aiowsman.psrp import RunspacePool
from aiowsman.testing import ShellFamily, WSManTestServer
from aiowsman.testing.families.psrp import RunspacePoolRuntime

#: A bound for waits that must end (a hang guard, not a speed check).
BOUND = 30.0


def runtime(server: WSManTestServer) -> RunspacePoolRuntime:
    """The server's side of the one open pool of host 0."""
    (shell,) = server.host(0).family(ShellFamily).open_shells()
    state = shell.runtime
    assert isinstance(state, RunspacePoolRuntime)
    return state


async def until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) until ``condition()`` holds on the server."""
    async with asyncio.timeout(BOUND):
        while not condition():  # noqa: ASYNC110 - the server's state has no event to wait on
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def pool_with_envelope(server: WSManTestServer, size: int) -> AsyncIterator[RunspacePool]:
    """An open pool on ``server`` over a session whose MaxEnvelopeSize is ``size``."""
    from tests.conftest import BASIC_OVER_HTTP

    async with (
        AsyncSession(server.endpoints[0], max_envelope_size=size, **BASIC_OVER_HTTP) as session,
        session.runspace_pool() as pool,
    ):
        yield pool
